"""Set-based statements for batches on PostgreSQL: one array per column.

``INSERT ... SELECT * FROM unnest(%s::bigint[], %s::text[])`` (or a join with such an
``unnest``) has the same text whatever the number of rows, so PostgreSQL prepares it once
per connection (:mod:`ficha.core.db.prepared`), and a batch of any size is one round trip.
Each array is cast to its column's type, so the statement never depends on how the driver
types a Python list (a list of only ``None`` included).
"""

from __future__ import annotations


def array_type(conn, field) -> str:
    """The PostgreSQL array type for ``field``'s column (``bigint[]``, ``varchar(32)[]``)."""
    return f"{field.db_type(conn)}[]"


def unnest(conn, fields, names: list[str] | None = None, alias: str = "v") -> str:
    """``unnest(%s::type[], ...)`` for ``fields`` (one parameter, a list, per field),
    optionally aliased ``AS <alias>(name, ...)``."""
    arrays = ", ".join(f"%s::{array_type(conn, f)}" for f in fields)
    sql = f"unnest({arrays})"
    if names:
        sql += f" AS {alias}({', '.join(names)})"
    return sql
