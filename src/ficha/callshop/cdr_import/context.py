"""What stays the same during an import: booths, decks, the venue's zone and plan."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable

from ficha.accounts.models import Customer, username_key
from ficha.core.services import venue_settings

from .. import calls as call_services
from ..matching import DeckIndex
from ..models import Booth, Deck


class _Context:
    """What stays the same during an import: booths, decks, the venue's zone and plan."""

    def __init__(self) -> None:
        from .. import services

        self.services = services
        self.zone = zoneinfo.ZoneInfo(venue_settings().time_zone)
        self.plan = services.dial_plan()
        booths = list(Booth.objects.all())
        self.by_accountcode = {b.accountcode: b for b in booths if b.accountcode}
        self.by_endpoint = {b.endpoint: b for b in booths if b.endpoint}
        self.by_name = {b.name: b for b in booths}
        self.decks: dict[str, Deck | None] = {}
        self.indexes: dict[int, tuple[DeckIndex, bool]] = {}
        self.customers: dict[str, Customer | None] = {}
        # A call's columns from its deck and rate row (prepare._call_columns), by the
        # rate row's id (its index is kept above: the ids stay) or, without one, (deck pk,).
        self.call_columns: dict[int | tuple, tuple] = {}

    def deck(self, *groups: str) -> Deck | None:
        key = "|".join(groups)
        if key not in self.decks:
            self.decks[key] = call_services.deck_for(*groups)
        return self.decks[key]

    def index(self, deck: Deck) -> tuple[DeckIndex, bool]:
        """The deck's index and whether any of its rows depends on the time."""
        found = self.indexes.get(deck.pk)
        if found is None:
            index = self.services.deck_index(deck)
            timed = any(t.conditional for t in index.rows())
            found = self.indexes[deck.pk] = (index, timed)
        return found

    def load_customers(self, codes: Iterable[str]) -> None:
        wanted = {c for c in codes if c and c not in self.customers}
        if not wanted:
            return
        keys = {username_key(c): c for c in wanted}
        found = {username_key(c.username): c for c in
                 Customer.objects.filter(username_key__in=list(keys))}
        for key, code in keys.items():
            self.customers[code] = found.get(key)

    def local(self, value: dt.datetime | None) -> dt.datetime | None:
        """A PBX time as naive venue-local wall-clock time (as the calls are written)."""
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(self.zone).replace(tzinfo=None)

    def aware(self, value: dt.datetime | None) -> dt.datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=self.zone)
