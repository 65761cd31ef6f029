"""Reading one row by its primary key without building a query each time.

Building an ORM query costs more CPU than the database needs to answer it. On the few
paths that run on every request (e.g. the API's redemption looking up its customer) the
statement is written out once per model and database vendor and reused: same columns,
same Python values (the model fields' converters apply), no ordering, no LIMIT (a
primary key matches at most one row).
"""

from __future__ import annotations

from django.db import connection, models

_SQL: dict[tuple[str, str], str] = {}  # (model label, vendor) -> SELECT


def _select_by_pk(model: type[models.Model]) -> str:
    key = (model._meta.label, connection.vendor)
    sql = _SQL.get(key)
    if sql is None:
        q = connection.ops.quote_name
        table = q(model._meta.db_table)
        columns = ", ".join(f"{table}.{q(f.column)}" for f in model._meta.concrete_fields)
        sql = f"SELECT {columns} FROM {table} WHERE {table}.{q(model._meta.pk.column)} = %s"
        _SQL[key] = sql
    return sql


def by_pk(model: type[models.Model], pk):
    """The ``model`` instance with primary key ``pk``, or None (like
    ``model.objects.filter(pk=pk).first()`` for a manager without a default filter)."""
    if pk is None:
        return None
    pk = model._meta.pk.get_prep_value(pk)
    for row in model._default_manager.raw(_select_by_pk(model), [pk]):
        return row
    return None
