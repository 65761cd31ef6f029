"""Set-based statements for batches on PostgreSQL: one array per column.

``INSERT ... SELECT * FROM unnest(%s::bigint[], %s::text[])`` (or a join with such an
``unnest``) has the same text whatever the number of rows, so PostgreSQL prepares it once
per connection (:mod:`ficha.core.db.prepared`), and a batch of any size is one round trip.
Each array is cast to its column's type, so the statement never depends on how the driver
types a Python list (a list of only ``None`` included).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid


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


_NEXT_ID: dict[tuple[str, str], str] = {}


def next_id_sql(conn, model) -> str:
    """An SQL expression drawing ``model``'s next primary key from its sequence
    (PostgreSQL), for a statement that draws the ids of rows written later; the sequence's
    name is looked up once per database."""
    key = (conn.alias, model._meta.label)
    sql = _NEXT_ID.get(key)
    if sql is None:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)",
                           [model._meta.db_table, model._meta.pk.column])
            quoted = cursor.fetchone()[0].replace("'", "''")
        sql = _NEXT_ID[key] = f"nextval('{quoted}'::regclass)"
    return sql


def _quoted(text: str) -> str:
    if '"' in text or "\\" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text + '"'


_NONE = type(None)


def literal(values: list) -> str | None:
    """``values`` as a PostgreSQL array literal (``{1,NULL,"a \\"b\\""}``), or None when
    one of them is not a plain value (bytes, a nested list, ...): then the driver dumps
    the list. PostgreSQL types the literal from where it stands (``%s::bigint[]``,
    ``= ANY(%s)``), as it types the array the driver would send."""
    kinds = set(map(type, values))
    if kinds <= {int, _NONE}:  # ids, counters (bool and IntEnum take the long way)
        return "{" + ",".join(map(str, values)).replace("None", "NULL") + "}"
    if kinds == {str}:
        inner = '","'.join(values)
        if "\\" not in inner and inner.count('"') == 2 * (len(values) - 1):
            return '{"' + inner + '"}'
    out = []
    append = out.append
    for value in values:
        if value is None:
            append("NULL")
        elif value is True:
            append("t")
        elif value is False:
            append("f")
        elif isinstance(value, int):
            append(int.__repr__(value))
        elif isinstance(value, str):
            append(_quoted(value))
        elif isinstance(value, (dt.datetime, dt.date)):
            append('"' + value.isoformat() + '"')
        elif isinstance(value, (decimal.Decimal, uuid.UUID)):
            append('"' + str(value) + '"')
        else:
            return None
    return "{" + ",".join(out) + "}"


def array_params(params):
    """``params`` with each list of plain values turned into an array literal."""
    if not params or not isinstance(params, (list, tuple)):
        return params
    if not any(type(p) is list for p in params):
        return params
    out = []
    for param in params:
        if type(param) is list:
            text = literal(param)
            if text is not None:
                param = text
        out.append(param)
    return out
