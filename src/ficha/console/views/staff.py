from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from ficha.accounts import services as accounts
from ficha.core import roles
from ficha.ledger import services as ledger
from ficha.reports import services as reports

from ..access import actor, capability_required
from ..forms import StaffForm, StaffPasswordForm, StaffRoleForm
from .common import posted


def _member(pk: int):
    return get_object_or_404(reports.staff_members(), pk=pk)


@capability_required("manage_staff")
def staff_list(request):
    return render(request, "console/staff/list.html", {
        "members": reports.staff_members(),
        "role_columns": [(r, roles.ROLE_LABELS[r]) for r in roles.ROLES],
        "matrix": [(label, [r in allowed for r in roles.ROLES])
                   for label, allowed in roles.CAPABILITIES.values()],
    })


@sensitive_post_parameters("password", "password2")
@capability_required("manage_staff")
def staff_new(request):
    form = StaffForm(posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = accounts.create_staff(actor(request), data["username"], data["password"],
                                         data["role"], data["full_name"])
        except accounts.AccountError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Staff member %(name)s created.")
                             % {"name": user.username})
            return redirect("console:staff")
    elif request.method == "POST":  # every error at once: the service's checks too
        data = form.valid_data(["username", "password", "role"])
        form.show_problems(accounts.staff_problems(data.get("username"), data.get("password"),
                                                   data.get("role")))
    return render(request, "console/staff/new.html", {"form": form})


def _detail(request, member, role_form=None, password_form=None, status=200):
    return render(request, "console/staff/detail.html", {
        "member": member,
        "role": roles.role_of(member),
        "role_form": role_form or StaffRoleForm(initial={"role": roles.role_of(member)}),
        "password_form": password_form or StaffPasswordForm(),
        "shift": ledger.current_shift(member),
        "is_me": member.pk == request.user.pk,
    }, status=status)


@capability_required("manage_staff")
def staff_detail(request, pk: int):
    return _detail(request, _member(pk))


@require_POST
@capability_required("manage_staff")
def staff_role(request, pk: int):
    member = _member(pk)
    form = StaffRoleForm(request.POST)
    if form.is_valid():
        try:
            accounts.set_staff_role(actor(request), member, form.cleaned_data["role"])
        except accounts.AccountError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("%(name)s is now %(role)s.") % {
                "name": member.username, "role": roles.ROLE_LABELS[form.cleaned_data["role"]]})
            return redirect("console:staff_member", member.pk)
    return _detail(request, member, role_form=form)


@require_POST
@capability_required("manage_staff")
def staff_status(request, pk: int):
    member = _member(pk)
    active = request.POST.get("active") == "1"
    try:
        accounts.set_staff_active(actor(request), member, active)
    except accounts.AccountError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(name)s can log in again.") % {"name": member.username}
                         if active else
                         _("%(name)s is disabled and cannot log in.") % {"name": member.username})
    return redirect("console:staff_member", member.pk)


@sensitive_post_parameters("password", "password2")
@require_POST
@capability_required("manage_staff")
def staff_password(request, pk: int):
    member = _member(pk)
    form = StaffPasswordForm(request.POST)
    if form.is_valid():
        try:
            accounts.set_staff_password(actor(request), member, form.cleaned_data["password"])
        except accounts.AccountError as exc:
            form.add_service_error(exc, "password")
        else:
            if member.pk == request.user.pk:
                update_session_auth_hash(request, member)
            messages.success(request, _("Password of %(name)s changed.")
                             % {"name": member.username})
            return redirect("console:staff_member", member.pk)
    return _detail(request, member, password_form=form)


