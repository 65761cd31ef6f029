from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.shortcuts import redirect, render, resolve_url
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from ficha.accounts import logins, staff_sessions
from ficha.accounts import services as accounts
from ficha.core import throttle

from ..access import actor, capability_required, public
from ..forms import LoginForm, OwnPasswordForm
from .common import posted, safe_next

SCOPE = logins.STAFF


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
    attempt = None
    if request.method == "POST":
        data = request.POST.copy()
        typed = data.get("username", "")
        user = accounts.find_staff(typed) if typed.strip() else None
        if user is not None:
            data["username"] = user.get_username()  # log in with the stored spelling
        form = LoginForm(request, data=data)
        if typed:
            # Claimed before the password is checked: parallel guesses cannot slip
            # through. A browser this user logged in from before is throttled only by its
            # own failures (docs/security.md).
            tag = staff_sessions.device_tag(request, user) if user is not None else None
            attempt = logins.claim(SCOPE, typed, ip=request.client_ip, device_tag=tag)
            wait = attempt.wait
        if attempt is not None and not wait and form.is_valid():
            logins.settle(attempt, ok=True)
            user = form.get_user()
            login(request, user)
            staff_sessions.start(request, user)
            accounts.record_login(actor(request), request.user)
            response = redirect(nxt)
            staff_sessions.remember_device(request, response, user)
            return response
        if wait:
            refused = True
            if user is not None:
                logins.refused(attempt, _("Staff member %(name)s")
                               % {"name": user.get_username()})
        elif attempt is not None:
            logins.settle(attempt, ok=False, account_label=_("Staff member %(name)s")
                          % {"name": user.get_username()} if user is not None else "")
            wait = throttle.retry_after(SCOPE, attempt.keys)  # this failure may have locked us
        if wait:
            # one message: the lock-out (not also "wrong password")
            form = LoginForm(request, initial={"username": typed})
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
            staff_sessions.keep(request, request.user)  # this session survives the change
            messages.success(request, _("Your password was changed."))
            return redirect("console:dashboard")
    return render(request, "console/password.html", {"form": form})


@require_POST
@capability_required("view_dashboard")
def logout_everywhere_view(request):
    """End every session of this staff member (other counter PCs included) and forget the
    browsers that knew them; this one logs in again."""
    accounts.log_out_everywhere(actor(request), request.user)
    logout(request)
    messages.info(request, _("You were logged out everywhere."))
    return redirect(settings.LOGIN_URL)
