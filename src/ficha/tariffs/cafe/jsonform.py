"""The JSON form of a tariff spec (storage, API, agent)."""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext as _

from .spec import Band, Rate, Step, TariffError, TariffSpec


def spec_to_json(spec: TariffSpec) -> dict:
    return {
        "rates": [{"name": r.name, "steps": [{"start": s.start, "prices": dict(s.prices)}
                                              for s in r.steps]} for r in spec.rates],
        "fallback": spec.fallback,
        "bands": [{"days": sorted(b.days), "start": b.start, "end": b.end, "rate": b.rate}
                  for b in spec.bands],
        "first_block": spec.first_block, "increment": spec.increment,
        "start_fee": spec.start_fee, "minimum": spec.minimum,
        "currency": spec.currency, "time_zone": spec.time_zone, "name": spec.name,
    }


def spec_from_json(data: Mapping) -> TariffSpec:
    """The inverse of :func:`spec_to_json`; TariffError for anything malformed."""
    try:
        rates = tuple(Rate(str(r["name"]), tuple(Step(s["start"], dict(s["prices"]))
                                                 for s in r["steps"]))
                      for r in data["rates"])
        bands = tuple(Band(frozenset(b["days"]), b["start"], b["end"], str(b["rate"]))
                      for b in data.get("bands", ()))
        return TariffSpec(
            rates=rates, fallback=str(data["fallback"]), bands=bands,
            first_block=data.get("first_block", 0), increment=data.get("increment", 60),
            start_fee=data.get("start_fee", 0), minimum=data.get("minimum", 0),
            currency=str(data.get("currency", "")), time_zone=str(data.get("time_zone", "UTC")),
            name=str(data.get("name", "")))
    except TariffError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError):
        raise TariffError(_("The tariff data is incomplete or malformed.")) from None
