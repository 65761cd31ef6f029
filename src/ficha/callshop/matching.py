"""Dialled numbers to E.164 digits, and the longest-prefix match over a deck (pure).

A :class:`DialPlan` holds the venue's dialling conventions: the international prefix
("00" in most of the world, "011" in North America), the national trunk prefix ("0" in
France, none in Côte d'Ivoire) and the venue's country code. A dialled number becomes
E.164 digits (country code first, no "+"):

* ``+<digits>`` or ``<international prefix><digits>``: the digits as they are;
* ``<trunk prefix><digits>`` (when there is a trunk prefix): country code + digits;
* anything else: country code + the number (a national number dialled without a trunk
  prefix, as in countries that have none), or the digits as they are when no country
  code is set.

Spaces, dots, dashes and parentheses are ignored, and so is a "(0)" (the trunk prefix
written for national callers, as in "+33 (0)1 40 00 00 00"). Anything else that is not a digit
(``*97``, ``s``, a SIP URI) is not a phone number.

:class:`DeckIndex` is the in-memory index used to rate: a dict from prefix to rate terms
and the list of prefix lengths present in the deck, longest first, so a lookup tries
only lengths that exist. Rows restricted to time windows or validity dates are kept as
candidates of their prefix; the longest prefix with a row that applies at the call's
start wins, and among a prefix's rows a restricted one that applies beats an
unrestricted one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from .rating import (
    HALF_UP,
    MICRO_DIGITS,
    Policy,
    Rated,
    RatingError,
    Terms,
    billed_seconds,
    compile_terms,
    is_digits,
    rate_call,
)

MAX_DIGITS = 15  # E.164
TABLE_SECONDS = 3600  # billed seconds are looked up for calls shorter than this
MAX_TABLES = 16  # billing shapes with a table; rarer shapes are computed
_IGNORED = str.maketrans("", "", " .-()/\u00a0\t")


RULES = ("plus", "international", "national", "local")  # how DialPlan.read read a number


class NumberError(ValueError):
    """A dialled string that is not a phone number."""


@dataclass(frozen=True, slots=True)
class DialPlan:
    international_prefix: str = "00"
    national_prefix: str = "0"
    country_code: str = ""

    def __post_init__(self) -> None:
        for value in (self.international_prefix, self.national_prefix, self.country_code):
            if value and not is_digits(value):
                raise NumberError(_("Dialling prefixes and country codes are digits only."))
        if self.country_code.startswith("0") or len(self.country_code) > 3:
            raise NumberError(_("A country code is 1 to 3 digits, not starting with 0."))
        if self.international_prefix and self.international_prefix == self.national_prefix:
            raise NumberError(_("The international and national prefixes must differ."))

    def normalise(self, dialled: str) -> str:
        """E.164 digits of ``dialled`` (no "+"), or :class:`NumberError`."""
        return self.read(dialled)[0]

    def read(self, dialled: str) -> tuple[str, str]:
        """E.164 digits of ``dialled`` and which rule made them (one of :data:`RULES`:
        ``"plus"``, ``"international"``, ``"national"``, ``"local"``), or
        :class:`NumberError`."""
        number = dialled.strip()
        if not is_digits(number):
            # "+33 (0)1 40…": the "(0)" is the trunk prefix written for national callers.
            number = number.replace("(0)", "").translate(_IGNORED)
            if number.startswith("+"):
                number = number[1:]
                if not is_digits(number):
                    raise NumberError(_("“%(n)s” is not a phone number.") % {"n": dialled})
                return self._check(number, dialled), "plus"
            if not is_digits(number):
                raise NumberError(_("“%(n)s” is not a phone number.") % {"n": dialled})
        intl = self.international_prefix
        if intl and number.startswith(intl):
            return self._check(number[len(intl):], dialled), "international"
        if not self.country_code:
            # Without it "01 40…" would become +1 40… (North America) and be charged so.
            raise NumberError(_(
                "“%(n)s” is a national number, but the venue's country code is not set "
                "(`ficha rates plan --country-code 33`); write it with + or the "
                "international prefix.") % {"n": dialled})
        trunk = self.national_prefix
        if trunk and number.startswith(trunk):
            return self._check(self.country_code + number[len(trunk):], dialled), "national"
        return self._check(self.country_code + number, dialled), "local"

    @staticmethod
    def _check(digits: str, dialled: str) -> str:
        if not digits or len(digits) > MAX_DIGITS:
            raise NumberError(_("“%(n)s” is not a phone number.") % {"n": dialled})
        return digits


@dataclass(frozen=True, slots=True)
class Candidate:
    """A prefix the longest-prefix match tried: the deck's rows with it (none: not in the
    deck), whether each applies at the call's start, and the one chosen (if any)."""

    prefix: str
    rows: tuple[Terms, ...]
    applies: tuple[bool, ...]
    chosen: Terms | None = None

    @property
    def rows_applies(self) -> list[tuple[Terms, bool]]:
        return list(zip(self.rows, self.applies, strict=True))


@dataclass(slots=True)
class Costs:
    """Costs of a batch of calls, as parallel lists (``terms[n]`` is None: no rate matched).

    Parallel lists of plain ints rather than a tuple per call: ints are not tracked by
    the garbage collector, so a batch of 100,000 calls does not trigger collections.
    """

    terms: list[Terms | None]
    billed: list[int]
    cost: list[int]


class DeckIndex:
    """Longest-prefix match over one deck's rows, and rating with the deck's policy."""

    __slots__ = ("policy", "_exact", "_lengths", "_params", "size")

    def __init__(self, rows: Iterable[Terms], policy: Policy) -> None:
        self.policy = policy
        grouped: dict[str, list[Terms]] = {}
        for terms in rows:
            if not is_digits(terms.prefix) or len(terms.prefix) > MAX_DIGITS:
                raise RatingError(_("Prefix “%(p)s” is not 1 to 15 digits.") % {"p": terms.prefix})
            grouped.setdefault(terms.prefix, []).append(terms)
        # prefix -> the parameters of its one unrestricted row (the fast path), or a tuple
        # of candidate rows' parameters, restricted rows first.
        exact: dict[str, tuple] = {}
        params: dict[int, tuple] = {}
        simple = policy.rounding == HALF_UP
        # Billed seconds by answered duration, one table per billing shape shared by every
        # row with that shape (decks use a handful: 60/60, 30/6, 1/1, ...); -1 = grace.
        shapes: dict[tuple, int] = {}
        for group in grouped.values():
            for terms in group:
                key = (terms.grace, terms.free_seconds, terms.min_block, terms.increment)
                shapes[key] = shapes.get(key, 0) + 1
        common = sorted(shapes, key=shapes.get, reverse=True)[:MAX_TABLES]
        tables = {key: self._billed_table(*key, policy.whole_duration) for key in common}
        for prefix, group in grouped.items():
            for terms in group:
                slow = None if simple and not terms.tiers else compile_terms(terms, policy)
                table = tables.get((terms.grace, terms.free_seconds, terms.min_block,
                                    terms.increment))
                params[id(terms)] = (terms, table, terms.grace, terms.free_seconds,
                                     terms.min_block, terms.increment, terms.connect_fee * 60,
                                     terms.price, terms.min_cost * 60, slow)
            if len(group) == 1 and not group[0].conditional:
                exact[prefix] = params[id(group[0])]
            else:
                exact[prefix] = tuple(params[id(t)] for t in
                                      sorted(group, key=lambda t: not t.conditional))
        self._exact = exact
        self._params = params
        self._lengths = tuple(sorted({len(p) for p in exact}, reverse=True))
        self.size = sum(len(g) for g in grouped.values())

    @staticmethod
    def _billed_table(grace: int, free: int, block: int, increment: int, whole: bool
                      ) -> list[int]:
        shape = Terms(prefix="0", description="", price=0, grace=grace, free_seconds=free,
                      min_block=block, increment=increment)
        return [-1 if d <= grace else billed_seconds(shape, d, whole_duration=whole)
                for d in range(TABLE_SECONDS)]

    def rows(self) -> list[Terms]:
        """Every row of the index."""
        return [p[0] for p in self._params.values()]

    def match(self, digits: str, when: dt.datetime | None = None) -> Terms | None:
        """The row for E.164 ``digits`` at local time ``when`` (None: no row matches)."""
        return self._walk(digits, when, None)

    def lookup(self, digits: str, when: dt.datetime | None = None
               ) -> tuple[Terms | None, list[Candidate]]:
        """:meth:`match`, with every prefix it considered, longest first (the rate tool)."""
        seen: list[Candidate] = []
        return self._walk(digits, when, seen), seen

    def _walk(self, digits: str, when: dt.datetime | None, seen: list | None) -> Terms | None:
        # The longest-prefix rule, in one place (cost_many inlines it for speed; a test
        # checks both agree).
        exact = self._exact
        for length in self._lengths:
            if seen is not None and length > len(digits):
                continue
            hit = exact.get(digits[:length])
            if hit is None:
                if seen is not None:
                    seen.append(Candidate(digits[:length], (), ()))
                continue
            if type(hit[0]) is Terms and seen is None:
                return hit[0]
            rows = tuple(c[0] for c in ((hit,) if type(hit[0]) is Terms else hit))
            applies = tuple(t.applies(when) for t in rows)
            chosen = next((t for t, ok in zip(rows, applies, strict=True) if ok), None)
            if seen is not None:
                seen.append(Candidate(digits[:length], rows, applies, chosen))
            if chosen is not None:
                return chosen
        return None

    def rate(self, digits: str, duration: int, when: dt.datetime | None = None, *,
             explain: bool = False) -> Rated | None:
        """Rate a call to E.164 ``digits``; None when no row matches (an unknown destination)."""
        terms = self.match(digits, when)
        if terms is None:
            return None
        return rate_call(terms, duration, self.policy, explain=explain)

    def cost(self, digits: str, duration: int, when: dt.datetime | None = None
             ) -> tuple[Terms, int, int] | None:
        """``(terms, billed seconds, cost in minor units)``, or None when no row matches."""
        costs = self.cost_many(((digits, duration),), when)
        terms = costs.terms[0]
        return None if terms is None else (terms, costs.billed[0], costs.cost[0])

    def cost_many(self, calls: Iterable[tuple[str, int]], when: dt.datetime | None = None
                  ) -> Costs:
        """Rate many ``(E.164 digits, answered seconds)`` calls starting at ``when``
        (venue local time; None: only rows without time windows or dates apply).

        The same numbers as :func:`rating.rate_call` (a test checks it), computed inline
        for the common case (no tiers, half-up rounding).
        """
        exact, lengths = self._exact, self._lengths
        whole = self.policy.whole_duration
        div = 60 * 10 ** (MICRO_DIGITS - self.policy.exponent)
        half = div // 2
        out_terms: list[Terms | None] = []
        out_billed: list[int] = []
        out_cost: list[int] = []
        add_terms, add_billed, add_cost = out_terms.append, out_billed.append, out_cost.append
        for digits, duration in calls:
            for length in lengths:
                hit = exact.get(digits[:length])
                if hit is None:
                    continue
                if type(hit[0]) is not Terms:
                    hit = next((c for c in hit if c[0].applies(when)), None)
                    if hit is None:
                        continue
                terms, table, g, f, m, i, c60, r, k60, slow = hit
                add_terms(terms)
                if slow is not None:
                    billed, cost = slow(duration)
                    add_billed(billed)
                    add_cost(cost)
                elif table is not None and duration < TABLE_SECONDS:
                    billed = table[duration]
                    if billed < 0:  # within grace: free
                        add_billed(0)
                        add_cost(0)
                    else:
                        cost = c60 + r * billed
                        if cost < k60:
                            cost = k60
                        add_billed(billed)
                        add_cost((cost + half) // div)
                elif duration <= g:
                    add_billed(0)
                    add_cost(0)
                else:
                    d = duration - f
                    if d <= 0:
                        billed = 0
                    elif d <= m:
                        billed = m
                    elif whole:
                        billed = -(-d // i) * i
                    else:
                        billed = m + -(-(d - m) // i) * i
                    cost = c60 + r * billed
                    if cost < k60:
                        cost = k60
                    add_billed(billed)
                    add_cost((cost + half) // div)
                break
            else:
                add_terms(None)
                add_billed(0)
                add_cost(0)
        return Costs(out_terms, out_billed, out_cost)
