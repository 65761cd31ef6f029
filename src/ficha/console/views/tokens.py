from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from ficha.accounts import tokens
from ficha.accounts.models import ApiToken

from ..access import actor, capability_required
from ..forms import TokenForm


def _page(request, form=None, created=None, plaintext=None, status=200):
    return render(request, "console/tokens/list.html", {
        "tokens": tokens.list_tokens(),
        "form": form or TokenForm(),
        "created": created,
        "plaintext": plaintext,
    }, status=status)


@never_cache
@capability_required("manage_tokens")
def token_list(request):
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            try:
                token, plaintext = tokens.create_token(actor(request), form.cleaned_data["name"],
                                                       form.cleaned_data["role"])
            except tokens.TokenError as exc:
                form.add_service_error(exc)
            else:
                # Shown once, in this response only: Ficha keeps just a hash.
                return _page(request, created=token, plaintext=plaintext)
        return _page(request, form=form)
    return _page(request)


@require_POST
@capability_required("manage_tokens")
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk)
    try:
        tokens.revoke_token(actor(request), token)
    except tokens.TokenError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Token %(name)s revoked: it no longer works.")
                         % {"name": token.name})
    return redirect("console:tokens")
