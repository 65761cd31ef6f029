"""Café time tariffs: bands, steps, rounding, price groups (pure, no database).

A package by job: :mod:`.spec` (what a tariff is, validated), :mod:`.rating` (what time
costs, line by line; how long a credit lasts), :mod:`.text` (how amounts and durations
are written) and :mod:`.jsonform` (the stored / sent form). Import from here:
``from ficha.tariffs import cafe`` then ``cafe.price(...)``.
"""

from .jsonform import spec_from_json, spec_to_json  # noqa: F401
from .rating import (  # noqa: F401
    BILLING,
    MINIMUM,
    ROUNDING,
    START_FEE,
    TIME,
    Charge,
    Line,
    due,
    price,
    seconds_for,
    total,
)
from .spec import (  # noqa: F401
    DAY,
    DAY_NAMES,
    GUEST,
    HOUR,
    MAX_BANDS,
    MAX_BLOCK,
    MAX_PRICE,
    MAX_RATES,
    MAX_SECONDS,
    MAX_SESSION,
    MAX_STEPS,
    MEMBER,
    UTC,
    WEEK,
    Band,
    Rate,
    Step,
    TariffError,
    TariffSpec,
    from_time_tariff,
    simple,
)
from .text import day_label, duration_text, format_exact, format_minor  # noqa: F401
