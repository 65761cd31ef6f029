from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout, update_session_auth_hash
from django.shortcuts import redirect, render, resolve_url
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from ficha.accounts import services as accounts
from ficha.core import throttle

from ..access import actor, capability_required, public
from ..forms import LoginForm, OwnPasswordForm
from .common import posted, safe_next

SCOPE = "staff_login"


def _keys(request, username: str) -> list[str]:
    return [f"ip:{request.client_ip or 'unknown'}", f"user:{username.strip().lower()[:100]}"]


def _canonical_username(typed: str) -> str:
    """Staff usernames are unique regardless of case; log in with the stored spelling."""
    User = get_user_model()
    found = User.objects.filter(username__iexact=typed.strip()).values_list(
        "username", flat=True).first()
    return found or typed


@public
@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request):
    default_next = resolve_url(settings.LOGIN_REDIRECT_URL)
    nxt = safe_next(request, default_next)
    if request.user.is_authenticated and request.method != "POST":
        return redirect(nxt)
    wait = 0
    refused = False
    if request.method == "POST":
        data = request.POST.copy()
        typed = data.get("username", "")
        if typed:
            data["username"] = _canonical_username(typed)
        form = LoginForm(request, data=data)
        keys = _keys(request, typed)
        # Claimed before the password is checked: parallel guesses cannot slip through.
        wait = throttle.claim(SCOPE, keys) if typed else 0
        if not wait and form.is_valid():
            throttle.forgive(SCOPE, keys)
            login(request, form.get_user())
            accounts.record_login(actor(request), request.user)
            return redirect(nxt)
        if wait:
            refused = True
            form = LoginForm(request, initial={"username": typed})
        elif typed:
            wait = throttle.retry_after(SCOPE, keys)  # this failure may have locked us
    else:
        form = LoginForm(request)
    return render(request, "console/login.html",
                  {"form": form, "next": nxt if nxt != default_next else "", "wait": wait},
                  status=429 if refused else 200)


@require_POST
@capability_required()
def logout_view(request):
    accounts.record_logout(actor(request), request.user)
    logout(request)
    return redirect(settings.LOGIN_URL)


@sensitive_post_parameters("current", "password", "password2")
@capability_required("view_dashboard")
def password_view(request):
    """Any staff member changes their own password."""
    form = OwnPasswordForm(request.user, posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            accounts.set_staff_password(actor(request), request.user,
                                        form.cleaned_data["password"])
        except accounts.AccountError as exc:
            form.add_service_error(exc, "password")
        else:
            update_session_auth_hash(request, request.user)
            messages.success(request, _("Your password was changed."))
            return redirect("console:dashboard")
    return render(request, "console/password.html", {"form": form})
