"""A transaction whose statements travel together (PostgreSQL's pipeline mode).

Inside ``transaction.atomic()`` every statement waits for its answer before the next one
leaves, and psycopg sends ``BEGIN`` and ``COMMIT`` as round trips of their own: a batch of
four statements costs six round trips. On a busy machine each one is a wake-up of the
server's process and of ours (on a loaded 2-core box ~0.3-0.5 ms of wall time and ~0.15 ms
of our CPU each). :func:`atomic` runs its block as one transaction in pipeline mode:
``BEGIN`` goes out with the first statement, a statement whose result is not read does not
wait for it, and the statements left when the block ends travel with ``COMMIT``; a block
that reads once and then writes is two round trips.

The rules inside the block (which the callers on the hot paths follow):

* read a statement's result only when the next statement needs it (a read waits for
  every statement sent before it);
* no savepoints: an error aborts the whole pipeline up to its end, so a nested
  ``transaction.atomic()`` cannot catch an error and go on (nested blocks pass through
  as ``atomic(savepoint=False)`` does; an error inside one still rolls everything back);
* an error of a statement whose result was not read is raised when the block ends.

Django's transaction state is kept as ``transaction.atomic()`` keeps it: the code inside
sees an atomic block (``on_commit`` callbacks wait for the commit, ``atomic(savepoint=
False)`` joins the transaction), and the callbacks run after the commit. Elsewhere (SQLite,
a block inside another transaction, or ``FICHA_DATABASE_PIPELINE=0`` for a connection
pooler that cannot take pipelines), :func:`atomic` is ``transaction.atomic()``.
"""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from psycopg.pq import TransactionStatus

_IDLE = TransactionStatus.IDLE


def enabled(db) -> bool:
    return (db.vendor == "postgresql" and getattr(settings, "DATABASE_PIPELINE", True)
            and not db.in_atomic_block)


@contextlib.contextmanager
def atomic(using: str | None = None, *, generic_plans: bool = False):
    """The block as one pipelined transaction (see the module's notes).

    ``generic_plans``: the block's prepared statements run on the plan PostgreSQL made
    once for the connection instead of a plan made for each execution's values
    (``plan_cache_mode``, for this transaction only). Planning a batch statement costs
    more than running it for a small batch; only for statements shaped so that one plan
    suits every batch (each item found through a unique index, LATERAL ... LIMIT 1)."""
    db = connections[using or DEFAULT_DB_ALIAS]
    if not enabled(db):
        with transaction.atomic(using=db.alias):
            yield
        return
    db.ensure_connection()
    raw = db.connection
    if not raw.autocommit:  # Django's autocommit is on outside atomic blocks
        with transaction.atomic(using=db.alias):
            yield
        return
    db.validate_no_broken_transaction()
    committed = False
    try:
        with db.wrap_database_errors:
            # BEGIN and COMMIT as statements of the pipeline: psycopg's own transaction()
            # waits for its BEGIN before the block starts
            with raw.pipeline(), raw.cursor() as control:
                control.execute("BEGIN", prepare=False)
                if generic_plans:
                    control.execute("SET LOCAL plan_cache_mode = force_generic_plan",
                                    prepare=False)
                # the state transaction.atomic() sets for its outermost block, without
                # touching the driver's autocommit (psycopg would send BEGIN on its own)
                db.in_atomic_block, db.commit_on_exit, db.needs_rollback = True, True, False
                try:
                    yield
                    if db.needs_rollback:  # a nested block caught its own error
                        raise transaction.TransactionManagementError(
                            "an error inside a pipelined transaction rolls all of it back")
                except BaseException:
                    control.execute("ROLLBACK", prepare=False)
                    raise
                finally:
                    db.in_atomic_block, db.needs_rollback = False, False
                control.execute("COMMIT", prepare=False)
            committed = True  # the pipeline's end waited for every answer: no error
    finally:
        if committed:
            db.run_and_clear_commit_hooks()
        else:
            db.run_on_commit = []
            if raw.pgconn.transaction_status != _IDLE:  # a statement failed: the
                try:  # pipeline skipped the rest, ROLLBACK included
                    raw.rollback()
                except Exception:  # noqa: BLE001 - a broken connection: Django opens anew
                    db.close()
