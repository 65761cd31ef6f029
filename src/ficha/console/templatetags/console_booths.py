"""Template helpers of the booth pages: call durations."""

from __future__ import annotations

from django import template

from ficha.callshop.counter import duration_text

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """``{{ call.billsec|duration }}``: 65 → "1:05"."""
    try:
        return duration_text(int(seconds or 0))
    except (TypeError, ValueError):
        return ""
