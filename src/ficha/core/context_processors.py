from __future__ import annotations

from .services import venue_settings


def venue(request) -> dict:
    return {"venue": venue_settings()}
