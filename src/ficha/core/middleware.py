from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's address; X-Forwarded-For is believed only behind trusted proxies."""
    remote = request.META.get("REMOTE_ADDR") or None
    hops = settings.TRUSTED_PROXIES
    if hops > 0:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= hops:
            remote = forwarded[-hops]
    if remote:
        try:
            ipaddress.ip_address(remote)
        except ValueError:
            return None
    return remote


class ClientIPMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.client_ip = client_ip(request)
        return self.get_response(request)
