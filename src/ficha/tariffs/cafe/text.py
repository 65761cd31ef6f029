"""How amounts and durations are written on a charge's lines (no database).

Written once in :mod:`ficha.tariffs.engine`, for café and Wi-Fi charges alike."""

from ..engine import day_label, duration_text, format_exact, format_minor  # noqa: F401
