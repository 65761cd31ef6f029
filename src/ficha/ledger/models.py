"""Double-entry ledger. Amounts are signed integers in minor units, debit positive.

Every transaction's entries sum to zero. Rows are append-only: corrections are
reversing transactions. An account's balance is the sum of its entries times its
normal sign (+1 for assets, −1 for liabilities, revenue and equity), so a customer's
credit shows as a positive number.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ficha.core import clock

from .guard import LedgerImmutable


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerImmutable("ledger rows are append-only")

    def delete(self):
        raise LedgerImmutable("ledger rows are append-only")

    def bulk_update(self, *args, **kwargs):
        raise LedgerImmutable("ledger rows are append-only")

    def update_or_create(self, *args, **kwargs):
        raise LedgerImmutable("ledger rows are append-only")


class AppendOnly(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerImmutable("ledger rows are append-only")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutable("ledger rows are append-only")


class Account(models.Model):
    class Kind(models.TextChoices):
        ASSET = "asset", _("Asset")
        LIABILITY = "liability", _("Liability")
        REVENUE = "revenue", _("Revenue")
        EXPENSE = "expense", _("Expense")
        EQUITY = "equity", _("Equity")

    code = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name or self.code

    @property
    def normal_sign(self) -> int:
        return self.sign_of(self.kind)

    @classmethod
    def sign_of(cls, kind: str) -> int:
        """The normal sign of an account of ``kind``: +1 for assets and expenses (debits
        raise them), -1 for the others."""
        return 1 if kind in (cls.Kind.ASSET, cls.Kind.EXPENSE) else -1


class Shift(models.Model):
    """A cashier's drawer session: opening float, cash movements, counted cash at close."""

    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="shifts"
    )
    opened_at = models.DateTimeField(default=clock.now)
    opening_float = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    expected = models.BigIntegerField(null=True, blank=True)
    counted = models.BigIntegerField(null=True, blank=True)
    variance = models.BigIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["opened_by"], condition=Q(closed_at__isnull=True),
                name="one_open_shift_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.opened_by} {self.opened_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class Transaction(AppendOnly):
    kind = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    memo = models.CharField(max_length=255, blank=True)
    reference = models.CharField(max_length=64, blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_index=False,
    )
    shift = models.ForeignKey(
        Shift, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions",
        db_index=False,
    )
    source = models.CharField(max_length=20, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        # Every posting writes a row into each index: only those a query reads. Plain
        # indexes on kind and reference (Django's db_index adds a second, LIKE-pattern
        # index on PostgreSQL that no query uses); the staff and shift indexes hold only
        # the rows that have one (most postings - hotspot, café, call debits - have
        # none, and a lookup by a staff member or a shift never asks for NULL).
        indexes = [
            models.Index(fields=["kind"], name="ledger_tx_kind"),
            models.Index(fields=["reference"], name="ledger_tx_reference"),
            models.Index(fields=["staff"], condition=Q(staff__isnull=False),
                         name="ledger_tx_staff"),
            models.Index(fields=["shift"], condition=Q(shift__isnull=False),
                         name="ledger_tx_shift"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"


class Entry(AppendOnly):
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    # looked up through ledger_entry_balance, whose first column it is
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries",
                                db_index=False)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["id"]
        # A balance is Σ amount of the account's entries: with the amount in the index
        # (PostgreSQL's INCLUDE; other databases index the two columns) PostgreSQL sums
        # it from the index alone instead of visiting a heap page per entry, which grew
        # with every debit a busy account took (hotspot interims: 245 -> 600 µs each
        # after 150 debits per account; 320-380 µs with this index).
        indexes = [models.Index(fields=["account", "transaction"], include=["amount"],
                                name="ledger_entry_balance")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount:+d} {self.currency}"


class Hold(models.Model):
    """Credit set aside on an account for a debit still to come (a live call's cost).

    Not a money row: a hold moves nothing and Σ ledger is unchanged; it only lowers what
    other debits of the account may take (``services.spendable``: balance − open holds).
    Its life is one step, open → released, done by ``services.release_hold`` with a
    conditional UPDATE (``released_at IS NULL``), so a hold is released exactly once and
    never changes otherwise; rows are kept as the record of what was held and when.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds",
                                db_index=False)
    amount = models.BigIntegerField()  # minor units, > 0
    currency = models.CharField(max_length=3)
    # Who the hold is for ("call:42"): unique, so a retried placement finds the first one.
    reference = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account"], condition=Q(released_at__isnull=True),
                                name="ledger_hold_open")]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0),
                                              name="ledger_hold_amount_positive")]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount} {self.currency}"

    @property
    def is_open(self) -> bool:
        return self.released_at is None


class Checkpoint(models.Model):
    """Σ of a customer account's entries up to a transaction, so that a balance sums only
    the entries after it (``services.sum_sql``: total + Σ entries of later transactions).

    Not a money row: a cache of what the entries say, which ``services`` alone writes
    (``checkpoint``, and ``post_many`` for a batch that read the balances under lock).
    It is sound because of the locking rule (``services.holds``): every posting to a
    customer account locks the account's row before drawing its transaction id, and a
    checkpoint is written under that lock, so no entry with an id at or below ``upto``
    can still commit after it. System accounts (revenue, cash…) are never checkpointed:
    their postings do not lock them.
    """

    account = models.OneToOneField(Account, on_delete=models.PROTECT, primary_key=True,
                                   related_name="checkpoint")
    upto = models.BigIntegerField()  # the last ledger transaction id it covers
    total = models.BigIntegerField()  # Σ amount of the account's entries up to it
    taken_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return f"{self.account_id} ≤ #{self.upto}: {self.total:+d}"
