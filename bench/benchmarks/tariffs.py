"""Café tariffs: pricing sessions, what a credit buys, loading a station group's spec.

``tariffs.price``
    ``cafe.total`` of a pool of sessions (random starts over a week, 0–4 h long) on a
    tariff with four price lists, a night band, a weekend band, steps and a first block
    — bands and steps crossed, rounded once — against the hotspot's flat
    ``pricing.charge`` (one multiplication, no bands) on the same lengths. Target ≥ 0.2×:
    a banded café price costs at most five flat ones. ``price`` with its lines (what the
    console and the agent show) is measured against the same baseline, target ≥ 0.02×.
    (Targets 0.05× and 0.005× since the flat price became integer arithmetic, about
    3–5× faster than the ``Decimal`` one the first targets were set against.)

``tariffs.seconds_for``
    ``cafe.seconds_for`` (one walk over the pieces) on the same tariff against the flat
    engine's ``pricing.seconds_for`` — one division since the engines became one (it was a
    binary search, then the target was 0.5×). Target ≥ 0.02×.

``tariffs.charge``
    The hotspot's ``pricing.charge`` (RADIUS interim hot path: time and data, one
    engine with the café) against the exact-``Decimal`` formula it replaced, copied
    below, on the same usages. Target ≥ 0.9×: at most about 10 % slower.

``tariffs.spec_for``
    ``services.spec_for(station_group)`` (read the group's tariff, build and check the
    spec) against fetching the same ``CafeTariff`` row with the ORM. Target ≥ 0.3×.

No benchmark writes outside its set-up; pricing does no database work, so SQLite and
PostgreSQL measure the same thing for the first two.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from decimal import ROUND_HALF_UP, Decimal, localcontext

from ficha.core import audit
from ficha.tariffs import cafe, pricing, text
from ficha.tariffs import services as tariffs
from ficha.tariffs.models import CafeTariff

from ..runner import Context, Measurement, register

POOL = 5_000
RATES = """day guest=600 member=500
day from 60 guest=400 member=300
night guest=300
weekend guest=800 member=700"""
BANDS = "mon-sun 22:00-06:00 night\nsat+sun 06:00-22:00 weekend"


def _spec() -> cafe.TariffSpec:
    return cafe.TariffSpec(rates=text.parse_rates(RATES, "XOF"), fallback="day",
                           bands=text.parse_bands(BANDS), first_block=1800, increment=900,
                           minimum=200, currency="XOF", time_zone="Africa/Abidjan")


def _pool(size: int) -> list[tuple[dt.datetime, int, int]]:
    rnd = random.Random(7)
    week = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    return [(week + dt.timedelta(seconds=rnd.randrange(7 * 86400)), rnd.randrange(4 * 3600),
             rnd.randrange(5000)) for _ in range(size)]


def _cycle(pool):
    i = 0
    n = len(pool)

    def take(count: int):
        nonlocal i
        for _ in range(count):
            yield pool[i]
            i = (i + 1) % n
    return take


@register("tariffs.price", "café sessions priced/s (bands, steps) vs the flat hotspot price")
def price(ctx: Context, pool: int = POOL) -> list[Measurement]:
    spec, flat = _spec(), pricing.Tariff(price_per_hour=600, increment=900, minimum=200)
    sessions = _pool(pool)
    sub, base, lines = _cycle(sessions), _cycle(sessions), _cycle(sessions)

    def subject(n: int) -> None:
        for start, seconds, _credit in sub(n):
            cafe.total(spec, start, seconds)

    def baseline(n: int) -> None:
        for _start, seconds, _credit in base(n):
            pricing.charge(flat, seconds)

    def with_lines(n: int) -> None:
        for start, seconds, _credit in lines(n):
            cafe.price(spec, start, seconds)

    return [
        ctx.compare("tariffs.price[total]", subject, baseline, unit="sessions/s", target=0.05,
                    subject_label="cafe.total, banded tariff",
                    baseline_label="pricing.charge, flat"),
        ctx.compare("tariffs.price[lines]", with_lines, baseline, unit="sessions/s",
                    target=0.005, subject_label="cafe.price with its lines",
                    baseline_label="pricing.charge, flat"),
    ]


@register("tariffs.seconds_for", "how long a credit lasts/s vs the flat engine's search")
def seconds_for(ctx: Context, pool: int = POOL) -> list[Measurement]:
    spec, flat = _spec(), pricing.Tariff(price_per_hour=600, increment=900, minimum=200)
    sessions = _pool(pool)
    sub, base = _cycle(sessions), _cycle(sessions)

    def subject(n: int) -> None:
        for start, _seconds, credit in sub(n):
            cafe.seconds_for(spec, start, credit)

    def baseline(n: int) -> None:
        for _start, _seconds, credit in base(n):
            pricing.seconds_for(flat, credit)

    return [ctx.compare("tariffs.seconds_for", subject, baseline, unit="answers/s",
                        target=0.02, subject_label="cafe.seconds_for, banded tariff",
                        baseline_label="pricing.seconds_for, flat")]


def _decimal_charge(tariff: pricing.Tariff, seconds: int, octets: int) -> int:
    """The hotspot charge as computed before the engines became one (``Decimal``)."""
    inc = tariff.increment
    billed = -(-max(0, seconds) // inc) * inc
    with localcontext() as c:
        c.prec = 60
        cost = (Decimal(tariff.price_per_hour * billed) / 3600
                + Decimal(tariff.price_per_mb * octets) / 1_000_000)
        if (billed or octets) and cost < tariff.minimum:
            cost = Decimal(tariff.minimum)
        return int(cost.quantize(Decimal(1), ROUND_HALF_UP))


@register("tariffs.charge", "hotspot charges/s (one engine) vs the Decimal formula it replaced")
def charge(ctx: Context, pool: int = POOL) -> list[Measurement]:
    plan = pricing.Tariff(price_per_hour=600, price_per_mb=5, minimum=200, increment=60)
    rnd = random.Random(11)
    usages = [(rnd.randrange(4 * 3600), rnd.randrange(500 * 10**6), 0) for _ in range(pool)]
    sub, base = _cycle(usages), _cycle(usages)

    def subject(n: int) -> None:
        for seconds, octets, _ in sub(n):
            pricing.charge(plan, seconds, octets)

    def baseline(n: int) -> None:
        for seconds, octets, _ in base(n):
            _decimal_charge(plan, seconds, octets)

    return [ctx.compare("tariffs.charge", subject, baseline, unit="charges/s", target=0.9,
                        subject_label="pricing.charge", baseline_label="Decimal formula")]


@register("tariffs.spec_for", "station group specs loaded/s vs fetching the tariff row")
def spec_for(ctx: Context) -> list[Measurement]:
    spec = _spec()
    data = cafe.spec_to_json(spec)
    name = f"bench-{secrets.token_hex(4)}"
    tariff = tariffs.create_tariff(audit.SYSTEM, name=name, rates=data["rates"],
                                   bands=data["bands"], fallback=data["fallback"],
                                   first_block=1800, increment=900, minimum=200)
    group = tariffs.create_station_group(audit.SYSTEM, name, tariff)
    group_pk = group.pk
    from ficha.tariffs.models import StationGroup

    def subject(n: int) -> None:
        for _ in range(n):
            g = StationGroup.objects.select_related("tariff").get(pk=group_pk)
            tariffs.spec_for(g)

    def baseline(n: int) -> None:
        for _ in range(n):
            StationGroup.objects.select_related("tariff").get(pk=group_pk)

    assert CafeTariff.objects.filter(pk=tariff.pk).exists()
    return [ctx.compare("tariffs.spec_for", subject, baseline, unit="specs/s", target=0.3,
                        subject_label="services.spec_for (read + build + check)",
                        baseline_label="the same ORM read only")]
