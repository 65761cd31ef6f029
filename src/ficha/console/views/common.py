from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def paginate(request, queryset, per_page: int = 25):
    paginator = Paginator(queryset, per_page)
    return paginator.get_page(request.GET.get("page"))


def safe_next(request, fallback: str) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return nxt
    return fallback


def done(request, url: str) -> HttpResponse:
    """After a successful POST: redirect (htmx: tell htmx to load the page)."""
    if getattr(request, "htmx", False):
        return HttpResponse(status=204, headers={"HX-Location": url})
    return redirect(url)


def posted(request):
    """The POST data of a POST (even an empty one), else None: for binding forms."""
    return request.POST if request.method == "POST" else None
