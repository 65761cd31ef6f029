"""Read-only figures and lists for the console (and later the API and printed reports).

Nothing here writes. Days are venue days: "today" starts at midnight in the venue's
time zone (``VenueSettings.time_zone``), whatever the server's clock zone is.

Two kinds of "takings" are kept apart, because adding them would count money twice
(a customer deposits cash, then spends that credit on café time):

* **money taken** — cash that came into (or left) the drawers: recharge sales,
  deposits to customer credit, refunds, direct cash sales;
* **revenue** — what was earned: café time, hotspot, calls, products, breakage.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Replace

from ficha.accounts.models import Customer
from ficha.core import clock, rows
from ficha.core.models import AuditLog
from ficha.core.services import venue_settings
from ficha.ledger import services as ledger
from ficha.ledger.models import Account, Entry, Shift, Transaction

# Revenue streams in display order: key -> ledger account code.
REVENUE_STREAMS: dict[str, str] = {
    "cafe": ledger.REVENUE_CAFE,
    "hotspot": ledger.REVENUE_HOTSPOT,
    "calls": ledger.REVENUE_CALLS,
    "products": ledger.REVENUE_PRODUCTS,
    "breakage": ledger.BREAKAGE,
}
# Transaction kinds that move the drawer itself, not takings.
SHIFT_KINDS = ("shift.open", "shift.close", "shift.variance")
CUSTOMER_PREFIX = "customer:"


# --- days in the venue's time zone --------------------------------------------------------
def venue_tz() -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(venue_settings().time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def venue_today() -> dt.date:
    return clock.now().astimezone(venue_tz()).date()


def day_range(day: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a venue day as aware datetimes (today by default)."""
    tz = venue_tz()
    day = day or venue_today()
    start = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + dt.timedelta(days=1)
    end = dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return start, end


# --- drawers ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Drawer:
    shift: Shift
    expected: int  # cash that should be in the drawer now, float included


def open_drawers(staff=None) -> list[Drawer]:
    """Every open shift with the cash its drawer should hold (one staff member's only)."""
    shifts = Shift.objects.filter(closed_at__isnull=True).select_related("opened_by")
    if staff is not None:
        shifts = shifts.filter(opened_by=staff)
    shifts = list(shifts.order_by("opened_at", "id"))
    if not shifts:
        return []
    cash_id = ledger.account_id(ledger.CASH)
    sums = dict(
        Entry.objects.filter(transaction__shift__in=shifts, account_id=cash_id)
        .exclude(transaction__kind="shift.close")
        .values_list("transaction__shift_id")
        .annotate(s=Sum("amount"))
        .values_list("transaction__shift_id", "s")
    )
    return [Drawer(shift=s, expected=sums.get(s.pk) or 0) for s in shifts]


def cash_in_drawers(staff=None) -> int:
    return sum(d.expected for d in open_drawers(staff))


@dataclass(frozen=True)
class ShiftSummary:
    shift: Shift
    opening_float: int
    cash_in: int  # every cash movement into the drawer during the shift, float excluded
    cash_out: int  # every cash movement out of it (positive number), closing excluded
    expected: int  # float + in − out (for a closed shift: what was expected at closing)
    by_kind: list[tuple[str, int]]  # net cash per transaction kind, float excluded
    transactions: int


_SHIFT_SQL: dict[str, tuple[str, str]] = {}  # vendor -> (cash per kind, transactions)


def _shift_sql() -> tuple[str, str]:
    found = _SHIFT_SQL.get(connection.vendor)
    if found is None:
        q = connection.ops.quote_name
        entry, tx = q(Entry._meta.db_table), q(Transaction._meta.db_table)
        drawer_kinds = ", ".join(["%s"] * len(SHIFT_KINDS))
        found = _SHIFT_SQL[connection.vendor] = (
            # the cash per kind, the opening float ("shift.open") among them
            f"SELECT t.kind, "
            f"COALESCE(SUM(CASE WHEN e.amount > 0 THEN e.amount END), 0), "
            f"COALESCE(SUM(CASE WHEN e.amount < 0 THEN e.amount END), 0) "
            f"FROM {entry} e JOIN {tx} t ON t.id = e.transaction_id "
            f"WHERE t.shift_id = %s AND e.account_id = %s AND t.kind NOT IN (%s, %s) "
            f"GROUP BY t.kind ORDER BY t.kind",
            f"SELECT COUNT(*) FROM {tx} WHERE shift_id = %s AND kind NOT IN ({drawer_kinds})",
        )
    return found


def shift_summary(shift: Shift) -> ShiftSummary:
    """What a shift's drawer took and paid out, by kind (two written-out statements: the
    dashboard shows it on every visit)."""
    cash_id = ledger.account_id(ledger.CASH)
    per_kind, count_sql = _shift_sql()
    with connection.cursor() as cursor:
        cursor.execute(per_kind, [shift.pk, cash_id, "shift.close", "shift.variance"])
        found = cursor.fetchall()
        cursor.execute(count_sql, [shift.pk, *SHIFT_KINDS])
        count = int(cursor.fetchone()[0])
    cash_in = cash_out = floats = 0
    by_kind = []
    for kind, inflow, outflow in found:
        inflow, outflow = int(inflow), int(outflow)
        if kind == "shift.open":
            floats += inflow + outflow
            continue
        cash_in += inflow
        cash_out -= outflow
        by_kind.append((kind, inflow + outflow))
    expected = shift.expected if shift.expected is not None else floats + cash_in - cash_out
    return ShiftSummary(shift=shift, opening_float=floats, cash_in=cash_in, cash_out=cash_out,
                        expected=expected, by_kind=by_kind, transactions=count)


# --- takings --------------------------------------------------------------------------------
@dataclass
class MoneyTaken:
    recharge_sales: int = 0
    deposits: int = 0
    refunds: int = 0  # a positive number: cash paid back to customers
    cash_sales: int = 0  # goods and time paid directly in cash
    other: int = 0  # any other cash movement (net)

    @property
    def net(self) -> int:
        return self.recharge_sales + self.deposits - self.refunds + self.cash_sales + self.other


@dataclass
class Revenue:
    streams: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.streams.values())


def _in_range(qs, start: dt.datetime, end: dt.datetime, staff=None, shift=None):
    qs = qs.filter(transaction__created_at__gte=start, transaction__created_at__lt=end)
    if staff is not None:
        qs = qs.filter(transaction__staff=staff)
    if shift is not None:
        qs = qs.filter(transaction__shift=shift)
    return qs


def money_taken(start: dt.datetime, end: dt.datetime, staff=None) -> MoneyTaken:
    """Cash that came in or went out between ``start`` and ``end``, by what it was for."""
    cash_id = ledger.account_id(ledger.CASH)
    cash_lines = _in_range(Entry.objects.filter(account_id=cash_id), start, end, staff)
    cash_lines = cash_lines.exclude(transaction__kind__in=SHIFT_KINDS)
    counterpart = Entry.objects.filter(
        transaction_id__in=cash_lines.values("transaction_id")
    ).exclude(account_id=cash_id)
    liability = ledger.account_id(ledger.RECHARGE_LIABILITY)
    revenue_codes = list(REVENUE_STREAMS.values())
    is_customer = Q(account__code__startswith=CUSTOMER_PREFIX)
    agg = counterpart.aggregate(
        sales=Coalesce(Sum("amount", filter=Q(account_id=liability)), 0),
        dep=Coalesce(Sum("amount", filter=is_customer & Q(amount__lt=0)), 0),
        ref=Coalesce(Sum("amount", filter=is_customer & Q(amount__gt=0)), 0),
        direct=Coalesce(Sum("amount", filter=Q(account__code__in=revenue_codes)), 0),
        every=Coalesce(Sum("amount"), 0),
    )
    taken = MoneyTaken(
        recharge_sales=-agg["sales"], deposits=-agg["dep"], refunds=agg["ref"],
        cash_sales=-agg["direct"],
    )
    # whatever is left (e.g. a cash movement to an account added later) stays visible
    taken.other = -agg["every"] - (taken.recharge_sales + taken.deposits - taken.refunds
                                   + taken.cash_sales)
    return taken


def revenue(start: dt.datetime, end: dt.datetime, staff=None) -> Revenue:
    """Revenue earned between ``start`` and ``end`` per stream (credit positive)."""
    codes = list(REVENUE_STREAMS.values())
    rows = dict(
        _in_range(Entry.objects.filter(account__code__in=codes), start, end, staff)
        .values_list("account__code")
        .annotate(s=Sum("amount"))
        .values_list("account__code", "s")
    )
    return Revenue(streams={key: -(rows.get(code) or 0) for key, code in REVENUE_STREAMS.items()})


def customers_served(start: dt.datetime, end: dt.datetime, staff=None) -> int:
    """Distinct customers whose credit moved, or (venue-wide) who were seen, in the range."""
    moved = _in_range(
        Entry.objects.filter(account__code__startswith=CUSTOMER_PREFIX), start, end, staff
    ).values("account_id")
    served = Q(credit_account_id__in=moved)
    if staff is None:
        served |= Q(last_seen_at__gte=start, last_seen_at__lt=end)
    return Customer.objects.filter(served).count()


def new_customers(start: dt.datetime, end: dt.datetime) -> int:
    return Customer.objects.filter(created_at__gte=start, created_at__lt=end).count()


@dataclass(frozen=True)
class DayFigures:
    day: dt.date
    taken: MoneyTaken
    revenue: Revenue
    customers_served: int
    new_customers: int
    drawers: list[Drawer]

    @property
    def cash_in_drawers(self) -> int:
        return sum(d.expected for d in self.drawers)


def day_figures(day: dt.date | None = None, staff=None) -> DayFigures:
    """The dashboard's figures for a venue day; ``staff`` narrows them to one person.

    The same figures as :func:`money_taken`, :func:`revenue`, :func:`customers_served`,
    :func:`new_customers` and :func:`open_drawers` (a test holds them equal), read with two
    statements instead of six: the dashboard is the console's most visited page.
    """
    day = day or venue_today()
    start, end = day_range(day)
    taken, streams, served, new = _day_totals(start, end, staff)
    return DayFigures(day=day, taken=taken, revenue=Revenue(streams=streams),
                      customers_served=served, new_customers=new,
                      drawers=_open_drawers_one_statement(staff))


# The day's entries, each with whether its transaction moved cash (a drawer transaction
# — opening, closing, variance — does not count) and whether it is a customer's credit.
_DAY_ENTRIES = """
    SELECT e.account_id AS account_id, e.amount AS amount, a.code AS code,
           (a.code LIKE %s) AS customer,
           (t.kind NOT IN ({shift_kinds}) AND EXISTS (
               SELECT 1 FROM {entry} c
               WHERE c.transaction_id = e.transaction_id AND c.account_id = %s)) AS cash_moved
    FROM {entry} e
    JOIN {transaction} t ON t.id = e.transaction_id
    JOIN {account} a ON a.id = e.account_id
    WHERE t.created_at >= %s AND t.created_at < %s{staff_filter}
"""
# One row: money taken (the cash lines' counterparts, by what they were for: recharge
# liability, customer credit in and out, revenue paid directly, everything but cash),
# revenue per stream, customers served and new customers.
_DAY_TOTALS = """
    WITH d AS ({day_entries})
    SELECT
      COALESCE(SUM(CASE WHEN d.cash_moved AND d.account_id = %s THEN d.amount END), 0),
      COALESCE(SUM(CASE WHEN d.cash_moved AND d.customer AND d.amount < 0
                        THEN d.amount END), 0),
      COALESCE(SUM(CASE WHEN d.cash_moved AND d.customer AND d.amount > 0
                        THEN d.amount END), 0),
      COALESCE(SUM(CASE WHEN d.cash_moved AND d.code IN ({stream_codes})
                        THEN d.amount END), 0),
      COALESCE(SUM(CASE WHEN d.cash_moved AND d.account_id <> %s THEN d.amount END), 0),
      {stream_sums},
      (SELECT COUNT(*) FROM {customer} cu
       WHERE cu.credit_account_id IN (SELECT d2.account_id FROM d d2 WHERE d2.customer)
             {seen_filter}),
      {new_customers}
    FROM d
"""
_DAY_SQL: dict[tuple[str, bool], str] = {}  # (vendor, venue-wide) -> statement


def _day_sql(venue_wide: bool) -> str:
    key = (connection.vendor, venue_wide)
    sql = _DAY_SQL.get(key)
    if sql is None:
        q = connection.ops.quote_name
        n_streams = len(REVENUE_STREAMS)
        entries = _DAY_ENTRIES.format(
            shift_kinds=", ".join(["%s"] * len(SHIFT_KINDS)),
            entry=q(Entry._meta.db_table), transaction=q(Transaction._meta.db_table),
            account=q(Account._meta.db_table),
            staff_filter="" if venue_wide else " AND t.staff_id = %s",
        )
        customer = q(Customer._meta.db_table)
        sql = _DAY_SQL[key] = _DAY_TOTALS.format(
            day_entries=entries,
            stream_codes=", ".join(["%s"] * n_streams),
            stream_sums=",\n      ".join(
                ["COALESCE(SUM(CASE WHEN d.code = %s THEN d.amount END), 0)"] * n_streams),
            customer=customer,
            seen_filter=("OR (cu.last_seen_at >= %s AND cu.last_seen_at < %s)"
                         if venue_wide else ""),
            new_customers=(f"(SELECT COUNT(*) FROM {customer} nc "
                           "WHERE nc.created_at >= %s AND nc.created_at < %s)"
                           if venue_wide else "0"),
        )
    return sql


def _day_totals(start: dt.datetime, end: dt.datetime, staff=None):
    """(MoneyTaken, revenue streams, customers served, new customers) in one statement."""
    venue_wide = staff is None
    adapt = connection.ops.adapt_datetimefield_value
    start_v, end_v = adapt(start), adapt(end)
    cash_id = ledger.account_id(ledger.CASH)
    liability = ledger.account_id(ledger.RECHARGE_LIABILITY)
    codes = list(REVENUE_STREAMS.values())
    params: list = [CUSTOMER_PREFIX + "%", *SHIFT_KINDS, cash_id, start_v, end_v]
    if not venue_wide:
        params.append(staff.pk)
    params += [liability, *codes, cash_id, *codes]
    if venue_wide:
        params += [start_v, end_v, start_v, end_v]
    with connection.cursor() as cursor:
        cursor.execute(_day_sql(venue_wide), params)
        row = cursor.fetchone()
    sales, dep, ref, direct, every = (int(v) for v in row[:5])
    taken = MoneyTaken(recharge_sales=-sales, deposits=-dep, refunds=ref, cash_sales=-direct)
    # whatever is left (e.g. a cash movement to an account added later) stays visible
    taken.other = -every - (taken.recharge_sales + taken.deposits - taken.refunds
                            + taken.cash_sales)
    sums = row[5:5 + len(codes)]
    streams = {key: -int(v) for key, v in zip(REVENUE_STREAMS, sums, strict=True)}
    served, new = (int(v) for v in row[5 + len(codes):])
    return taken, streams, served, new


_DRAWERS_SQL: dict[tuple[str, bool], str] = {}  # (vendor, one person's) -> statement
_DRAWER_USER = ("id", "username", "first_name", "last_name")  # what the page shows


def _open_drawers_one_statement(staff=None) -> list[Drawer]:
    """:func:`open_drawers` in one written-out statement: the open shifts, who opened
    them (the name fields only) and the cash each drawer should hold."""
    key = (connection.vendor, staff is not None)
    sql = _DRAWERS_SQL.get(key)
    User = get_user_model()
    if sql is None:
        q = connection.ops.quote_name
        shift, user = q(Shift._meta.db_table), q(User._meta.db_table)
        user_cols = ", ".join(f"u.{q(User._meta.get_field(f).column)}" for f in _DRAWER_USER)
        sql = _DRAWERS_SQL[key] = (
            f"SELECT {rows.columns(Shift)}, "
            f"(SELECT SUM(e.amount) FROM {q(Entry._meta.db_table)} e "
            f"JOIN {q(Transaction._meta.db_table)} t ON t.id = e.transaction_id "
            f"WHERE t.shift_id = {shift}.id AND e.account_id = %s AND t.kind <> %s), "
            f"{user_cols} "
            f"FROM {shift} JOIN {user} u ON u.id = {shift}.opened_by_id "
            f"WHERE {shift}.closed_at IS NULL"
            + (f" AND {shift}.opened_by_id = %s" if staff is not None else "")
            + f" ORDER BY {shift}.opened_at, {shift}.id"
        )
    params = [ledger.account_id(ledger.CASH), "shift.close"]
    if staff is not None:
        params.append(staff.pk)
    drawers = []
    for found, cash, *person in rows.read(Shift, sql, params, extra=1 + len(_DRAWER_USER)):
        found.opened_by = User.from_db(connection.alias, _DRAWER_USER, person)
        drawers.append(Drawer(shift=found, expected=int(cash or 0)))
    return drawers


# --- lists --------------------------------------------------------------------------------
def normalise_card(text: str) -> str:
    return text.replace(":", "").replace(" ", "").replace("-", "").upper()


def search_customers(query: str = "", status: str = ""):
    """Customers matching ``query`` in username, name, phone, e-mail or card UID.

    Phone numbers match whatever spacing either side uses ("77 123 45 67" finds
    "771234567" and the other way round).
    """
    qs = Customer.objects.all()
    query = (query or "").strip()
    if query:
        cond = (Q(username__icontains=query) | Q(full_name__icontains=query)
                | Q(phone__icontains=query) | Q(email__icontains=query))
        card = normalise_card(query)
        if card:
            cond |= Q(card_uid__icontains=card)
        digits = "".join(ch for ch in query if ch.isdigit())
        if len(digits) >= 3 and len(digits) >= len(query.replace(" ", "")) - 2:
            bare = F("phone")
            for sep in (" ", "-", ".", "(", ")", "/"):
                bare = Replace(bare, Value(sep), Value(""))
            qs = qs.annotate(phone_digits=bare)
            cond |= Q(phone_digits__contains=digits)
        qs = qs.filter(cond)
    if status in Customer.Status.values:
        qs = qs.filter(status=status)
    return qs.order_by("username")


def customer_balances(customers) -> dict[int, int]:
    """Balances (credit, minor units) keyed by customer id."""
    customers = list(customers)
    by_account = ledger.balances([c.credit_account for c in customers])
    return {c.pk: by_account.get(c.credit_account_id, 0) for c in customers}


@dataclass(frozen=True)
class HistoryRow:
    entry: Entry
    amount: int  # in the credit's sign: + the customer's credit grew
    balance_after: int


def customer_history(customer: Customer, offset: int, limit: int) -> list[HistoryRow]:
    """Movements on a customer's credit, newest first, with the balance after each."""
    sign = customer.credit_account.normal_sign
    qs = Entry.objects.filter(account_id=customer.credit_account_id).order_by("-id")
    rows = list(qs.select_related("transaction", "transaction__staff")[offset:offset + limit])
    if not rows:
        return []
    total = ledger.balance(customer.credit_account)
    newer = (qs.filter(id__gt=rows[0].pk).aggregate(s=Sum("amount"))["s"] or 0) if offset else 0
    running = total - sign * newer
    out = []
    for e in rows:
        out.append(HistoryRow(entry=e, amount=sign * e.amount, balance_after=running))
        running -= sign * e.amount
    return out


def customer_entry_count(customer: Customer) -> int:
    return Entry.objects.filter(account_id=customer.credit_account_id).count()


def shifts(staff=None, open_only: bool | None = None):
    qs = Shift.objects.select_related("opened_by", "closed_by")
    if staff is not None:
        qs = qs.filter(opened_by=staff)
    if open_only is True:
        qs = qs.filter(closed_at__isnull=True)
    return qs.order_by("-opened_at", "-id")


def shift_transactions(shift: Shift):
    """The shift's transactions with their cash line (``cash``), newest first."""
    cash_id = ledger.account_id(ledger.CASH)
    return (
        Transaction.objects.filter(shift=shift)
        .select_related("staff")
        .annotate(cash=Coalesce(Sum("entries__amount", filter=Q(entries__account_id=cash_id)), 0))
        .order_by("-id")
    )


def staff_members():
    """Staff logins (people, not the users behind API tokens), with their open shifts."""
    User = get_user_model()
    qs = User.objects.filter(Q(groups__isnull=False) | Q(is_superuser=True))
    if any(f.name == "api_token" for f in User._meta.get_fields()):
        qs = qs.filter(api_token__isnull=True)
    return (
        qs.prefetch_related("groups")
        .annotate(open_shifts=Count("shifts", filter=Q(shifts__closed_at__isnull=True),
                                    distinct=True))
        .distinct()
        .order_by("username")
    )


def search_audit(*, actor_id: int | None = None, action: str = "", object_type: str = "",
                 since: dt.date | None = None, until: dt.date | None = None, text: str = ""):
    qs = AuditLog.objects.select_related("actor")
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    if action:
        qs = qs.filter(action=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if since:
        qs = qs.filter(at__gte=day_range(since)[0])
    if until:
        qs = qs.filter(at__lt=day_range(until)[1])
    text = (text or "").strip()
    if text:
        qs = qs.filter(Q(summary__icontains=text) | Q(actor_label__icontains=text)
                       | Q(object_id=text) | Q(ip__startswith=text) | Q(action__icontains=text))
    return qs.order_by("-at", "-id")


def audit_choices() -> tuple[list[str], list[str]]:
    """The actions and object types present in the audit log (for the filter menus)."""
    actions = list(AuditLog.objects.order_by("action").values_list("action", flat=True)
                   .distinct())
    types = list(AuditLog.objects.exclude(object_type="").order_by("object_type")
                 .values_list("object_type", flat=True).distinct())
    return actions, types
