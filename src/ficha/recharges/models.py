"""Prepaid recharge codes: batches, codes and the log of redemption attempts.

A code is never reused: rows are never deleted. "Deleting" an unsold code turns it into a
tombstone (status ``deleted``) whose unique ``code`` still blocks every later batch.

Indexes are chosen for the console's recharges window at 1,000,000 rows (filters by
status, batch, amount, dates and code, sorted, paginated, with totals per status) and
for the worker's expiry sweep, while keeping a 100,000-code insert fast: columns that
are empty on a freshly generated code (seller, shift, customer, ledger links) get
*partial* indexes that cost nothing until the code is sold or used.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ficha.core import clock


class Batch(models.Model):
    """One generation run: N codes of the same amount and expiry."""

    label = models.CharField(_("label"), max_length=80, unique=True)
    amount = models.BigIntegerField(_("amount"))  # minor units, face value of each code
    currency = models.CharField(max_length=3)
    count = models.PositiveIntegerField(_("number of codes"))
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    valid_days = models.PositiveIntegerField(null=True, blank=True)  # the preset, if used
    code_length = models.PositiveSmallIntegerField()
    check_digit = models.BooleanField(default=False)
    # the batch's lowest and highest recharge ids: date filters become id ranges
    first_id = models.BigIntegerField(null=True, blank=True)
    last_id = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("batch")
        verbose_name_plural = _("batches")

    def __str__(self) -> str:
        return self.label


def _live(now) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


class RechargeQuerySet(models.QuerySet):
    """The rules about which codes an action may touch, in one place for every door."""

    def live(self, now=None):
        """Codes not past their expiry date (whatever the worker has marked yet)."""
        return self.filter(_live(now or clock.now()))

    def sellable(self, now=None):
        """Unsold and not past expiry."""
        return self.filter(status=Recharge.Status.UNSOLD).live(now)

    def deletable(self):
        """Never sold: unsold, or expired without a sale (deleting gives no money back)."""
        S = Recharge.Status
        return self.filter(Q(status=S.UNSOLD) | Q(status=S.EXPIRED, sold_at__isnull=True))

    def printable(self, now=None):
        """Unsold or sold, not past expiry: a card worth handing out."""
        return self.filter(status__in=Recharge.PRINTABLE).live(now)

    def redeemable(self, now=None):
        """Sold and not past expiry."""
        return self.filter(status=Recharge.Status.SOLD).live(now)


class Recharge(models.Model):
    class Status(models.TextChoices):
        UNSOLD = "unsold", _("Unsold")
        SOLD = "sold", _("Sold")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")
        VOID = "void", _("Void")
        DELETED = "deleted", _("Deleted")

    code = models.CharField(_("code"), max_length=16, unique=True)
    amount = models.BigIntegerField(_("amount"))  # face value, minor units
    currency = models.CharField(max_length=3)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="recharges",
                              db_index=False)  # see the (batch, id) index
    status = models.CharField(_("status"), max_length=8, choices=Status.choices,
                              default=Status.UNSOLD)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    # sale
    sold_at = models.DateTimeField(_("sold"), null=True, blank=True)
    sold_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+", db_index=False)
    sold_shift = models.ForeignKey("ledger.Shift", null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+", db_index=False)
    sale_price = models.BigIntegerField(null=True, blank=True)  # per code, minor units
    payment_method = models.CharField(max_length=20, blank=True)
    sale_transaction = models.ForeignKey("ledger.Transaction", null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+",
                                         db_index=False)
    # use
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    used_by = models.ForeignKey("accounts.Customer", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="recharges_used",
                                db_index=False)
    used_door = models.CharField(max_length=20, blank=True)
    redeem_transaction = models.ForeignKey("ledger.Transaction", null=True, blank=True,
                                           on_delete=models.PROTECT, related_name="+",
                                           db_index=False)
    # expiry (set by the worker) and breakage
    expired_at = models.DateTimeField(null=True, blank=True)
    breakage_transaction = models.ForeignKey("ledger.Transaction", null=True, blank=True,
                                             on_delete=models.PROTECT, related_name="+",
                                             db_index=False)
    # void (owner, with a refund) and delete (unsold only)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+", db_index=False)
    void_reason = models.TextField(blank=True)
    void_transaction = models.ForeignKey("ledger.Transaction", null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+",
                                         db_index=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+", db_index=False)

    objects = RechargeQuerySet.as_manager()

    PRINTABLE = (Status.UNSOLD, Status.SOLD)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("recharge")
        indexes = [
            # window filters, each ending in id so "newest first" pages need no sort
            models.Index(fields=["status", "id"], name="recharge_status_id"),
            models.Index(fields=["batch", "id"], name="recharge_batch_id"),
            models.Index(fields=["amount", "id"], name="recharge_amount_id"),
            # (totals per status come from the Tally table, not from an index scan)
            # date filters and sorts; sold/used date ranges are answered (rows, count
            # and totals) from these covering, partial indexes alone
            # (date, id) orders the window's date sorts without a sort (services.page);
            # status and amount make the sold/used ones cover date-range totals
            models.Index(fields=["expires_at", "id"], name="recharge_expires_id"),
            models.Index(fields=["status", "expires_at", "id"], name="recharge_status_expires"),
            models.Index(fields=["sold_at", "id", "status", "amount"], name="recharge_sold_id",
                         condition=Q(sold_at__isnull=False)),
            models.Index(fields=["used_at", "id", "status", "amount"], name="recharge_used_id",
                         condition=Q(used_at__isnull=False)),
            # the worker's sweeps touch only the rows they look for (services.LIVE_SQL
            # and UNBROKEN_SQL repeat these conditions literally so SQLite uses them)
            models.Index(fields=["expires_at"], name="recharge_expiry_due",
                         condition=Q(status__in=["unsold", "sold"], expires_at__isnull=False)),
            models.Index(fields=["id"], name="recharge_unbroken",
                         condition=Q(status="expired", sold_at__isnull=False,
                                     breakage_transaction__isnull=True)),
            # links that are empty until a code is sold or used
            models.Index(fields=["sold_shift"], name="recharge_sold_shift",
                         condition=Q(sold_shift__isnull=False)),
            models.Index(fields=["sale_transaction"], name="recharge_sale_tx",
                         condition=Q(sale_transaction__isnull=False)),
            models.Index(fields=["used_by", "used_at"], name="recharge_used_by",
                         condition=Q(used_by__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def display_code(self) -> str:
        from ficha.core.codes import group

        return group(self.code)

    @property
    def was_sold(self) -> bool:
        return self.sold_at is not None

    def is_expired(self, now=None) -> bool:
        if self.status == self.Status.EXPIRED:
            return True
        now = now or clock.now()
        return self.expires_at is not None and self.expires_at <= now

    def effective_status(self, now=None) -> str:
        """The status a person should see and every rule should use: an unsold or sold
        code past its expiry date is expired already, before the worker marks it."""
        if self.status in (self.Status.UNSOLD, self.Status.SOLD) and self.is_expired(now):
            return self.Status.EXPIRED
        return self.status

    # the same rules as RechargeQuerySet, for one loaded row
    def may_sell(self, now=None) -> bool:
        return self.effective_status(now) == self.Status.UNSOLD

    def may_delete(self) -> bool:
        return self.status == self.Status.UNSOLD or (
            self.status == self.Status.EXPIRED and self.sold_at is None)

    def may_print(self, now=None) -> bool:
        return self.effective_status(now) in self.PRINTABLE

    def may_void(self, now=None) -> bool:
        """Sold, unused and not expired (voiding refunds the buyer)."""
        return self.effective_status(now) == self.Status.SOLD


class RedeemAttempt(models.Model):
    """One evaluated attempt to redeem a code, from any door.

    A wrong guess is never stored in full: it is often a near miss of a live code (a
    customer's typo off by one digit), and a log that staff can read must not shorten
    an attacker's search. Only its first four digits (``code_hint``) and length are kept,
    enough to spot a pattern. An attempt that matched a real code links to it instead.
    Attempts refused before evaluation (format errors, locked-out sources) are not
    logged: they cost nothing and logging them would let a flood fill the disk.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Redeemed")
        UNKNOWN = "unknown", _("Unknown code")
        UNSOLD = "unsold", _("Unsold code")
        VOID = "void", _("Voided code")
        DELETED = "deleted", _("Deleted code")
        EXPIRED = "expired", _("Expired")
        USED = "used", _("Already used")
        RETURN = "return", _("Login with a used code")

    at = models.DateTimeField(default=clock.now)
    door = models.CharField(max_length=20)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    ip = models.CharField(max_length=45, blank=True)
    mac = models.CharField(max_length=32, blank=True)
    station = models.CharField(max_length=64, blank=True)
    account = models.CharField(max_length=150, blank=True)
    code_hint = models.CharField(max_length=8, blank=True)
    code_length = models.PositiveSmallIntegerField(default=0)
    recharge = models.ForeignKey(Recharge, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="attempts")
    customer = models.ForeignKey("accounts.Customer", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+", db_index=False)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+", db_index=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["at", "outcome"], name="redeem_attempt_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.door} {self.outcome}"


class Tally(models.Model):
    """Append-only deltas of the count and face value per status and batch.

    Every service that changes a code's status inserts the matching deltas in the same
    transaction (inserts never contend for a row lock); ``key`` is a status, or
    ``liability`` for sold codes whose value the shop still owes. The worker folds old
    rows into one row per key (``services.compact_tally``). Summing this small table
    replaces a scan of every recharge for the window's unfiltered totals.
    """

    LIABILITY = "liability"

    key = models.CharField(max_length=10)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="+",
                              db_index=False)
    count = models.BigIntegerField()
    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.key} {self.count:+d} {self.value:+d}"
