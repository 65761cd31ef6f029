"""How amounts and durations are written on a charge's lines (no database)."""

from __future__ import annotations

from django.utils.translation import gettext as _

HOUR = 3600


def day_label(d: int) -> str:
    return [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"),
            _("Saturday"), _("Sunday")][d]


def duration_text(seconds: int) -> str:
    h, rest = divmod(seconds, HOUR)
    m, s = divmod(rest, 60)
    parts = []
    if h:
        parts.append(_("%(n)d h") % {"n": h})
    if m or (h and s):
        parts.append(_("%(n)d min") % {"n": m})
    if s or not parts:
        parts.append(_("%(n)d s") % {"n": s})
    return " ".join(parts)


def _exponent(currency: str) -> int:
    if not currency:
        return 2
    from ficha.core.money import exponent

    return exponent(currency)


def format_exact(exact: int, currency: str) -> str:
    """An amount in 1/3600 minor units, in major units ("≈0.1667" when not exact)."""
    exp = _exponent(currency)
    sign = "-" if exact < 0 else ""
    exact = abs(exact)
    # two more decimals than the currency has, rounded half up
    digits = exp + 2
    scaled, rest = divmod(exact * 100, 3600)
    approx = rest != 0
    if approx and rest * 2 >= 3600:
        scaled += 1
    whole, frac = divmod(scaled, 10**digits)
    text = f"{whole}.{frac:0{digits}d}" if digits else str(whole)
    if not approx:  # drop the two extra zeros
        text = text[:-2] if exp else str(whole)
    elif text.endswith("0") and "." in text:
        text = text.rstrip("0").rstrip(".")
    return ("≈" if approx else "") + sign + text + (f" {currency}" if currency else "")


def format_minor(minor: int, currency: str) -> str:
    return format_exact(minor * 3600, currency)
