from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def hms(seconds) -> str:
    """Seconds as H:MM:SS (or M:SS under an hour); "—" for none."""
    if seconds is None or seconds == "":
        return "—"
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
