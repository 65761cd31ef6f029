"""Café tariffs: the list, the tariff editor with its weekly grid, station groups, time
packages, and the "what would it cost" tool that shows a charge line by line."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from ficha.accounts import services as accounts
from ficha.core import roles
from ficha.core.money import Money
from ficha.core.services import currency
from ficha.tariffs import cafe
from ficha.tariffs import services as tariffs
from ficha.tariffs.models import CafeTariff, Package, PackageHolding, StationGroup

from ..access import actor, capability_required
from ..forms import language
from ..tariff_forms import (
    PackageForm,
    QuoteForm,
    SellPackageForm,
    StationGroupForm,
    TariffForm,
)

GRID_CLASSES = 8  # rate-0 … rate-7 in tariffs.css; more price lists reuse them


def _grid(spec: cafe.TariffSpec) -> list[dict]:
    index = {r.name: i % GRID_CLASSES for i, r in enumerate(spec.rates)}
    return [{"day": cafe.day_label(d), "hours": [(name, index[name]) for name in row]}
            for d, row in enumerate(spec.grid())]


def _rule(spec: cafe.TariffSpec) -> str:
    if spec.first_block:
        return _("first %(m)d min, then every %(n)s") % {
            "m": spec.first_block // 60, "n": cafe.duration_text(spec.increment)}
    return _("%(n)s steps, rounded up") % {"n": cafe.duration_text(spec.increment)}


def _describe(tariff: CafeTariff) -> dict:
    try:
        spec = tariffs.spec_of(tariff)
    except cafe.TariffError as exc:
        return {"tariff": tariff, "error": str(exc)}
    legend = [(r.name, i % GRID_CLASSES, r.steps) for i, r in enumerate(spec.rates)]
    return {"tariff": tariff, "spec": spec, "grid": _grid(spec), "legend": legend,
            "hours": range(24), "rule": _rule(spec),
            "groups": sorted(spec.group_prices(), key=lambda g: (g != cafe.GUEST, g))}


def _page(request, group_form=None, package_form=None, sell_form=None, status=200):
    user = request.user
    return render(request, "console/tariffs/page.html", {
        "tariffs": [_describe(t) for t in CafeTariff.objects.all()],
        "groups": StationGroup.objects.select_related("tariff"),
        "packages": Package.objects.prefetch_related("station_groups"),
        "holdings": PackageHolding.objects.select_related("customer", "package")
                                          .filter(seconds_left__gt=0)
                                          .order_by("-bought_at")[:20],
        "can_manage": roles.can(user, "manage_tariffs"),
        "can_sell": roles.can(user, "sell_packages"),
        "group_form": group_form or StationGroupForm(prefix="group"),
        "package_form": package_form or PackageForm(prefix="package"),
        "sell_form": sell_form or SellPackageForm(prefix="sell"),
    }, status=status)


@never_cache
@capability_required("view_tariffs")
def tariff_page(request):
    return _page(request)


@never_cache
@capability_required("manage_tariffs")
def tariff_edit(request, pk: int | None = None):
    tariff = get_object_or_404(CafeTariff, pk=pk) if pk is not None else None
    if request.method == "POST":
        form = TariffForm(request.POST)
        if form.is_valid():
            try:
                if tariff is None:
                    tariff = tariffs.create_tariff(actor(request), **form.tariff_fields())
                else:
                    tariffs.update_tariff(actor(request), tariff, **form.tariff_fields())
            except cafe.TariffError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, _("Tariff %(name)s saved.") % {"name": tariff.name})
                return redirect("console:tariff", tariff.pk)
        status = 400
    else:
        form = TariffForm(initial=TariffForm.initial_for(tariff)) if tariff else TariffForm(
            initial={"rates": "standard guest=", "every_minutes": 1})
        status = 200
    return render(request, "console/tariffs/edit.html", {
        "form": form, "tariff": tariff,
        "described": _describe(tariff) if tariff is not None else None,
    }, status=status)


@never_cache
@capability_required("manage_tariffs")
def tariff_delete(request, pk: int):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    tariff = get_object_or_404(CafeTariff, pk=pk)
    try:
        tariffs.delete_tariff(actor(request), tariff)
    except cafe.TariffError as exc:
        messages.error(request, str(exc))
        return redirect("console:tariff", pk)
    messages.success(request, _("Tariff %(name)s deleted.") % {"name": tariff.name})
    return redirect("console:tariffs")


def _add(request, form_class, prefix: str, create, added: str):
    """POST of an "add" form on the tariffs page (station group, package): ``create(form)``
    (a service call, returns the new object) then back to the page; errors on the page."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = form_class(request.POST, prefix=prefix)
    if form.is_valid():
        try:
            obj = create(form)
        except cafe.TariffError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, added % {"name": obj.name})
            return redirect("console:tariffs")
    return _page(request, status=400, **{f"{prefix}_form": form})


def _edit(request, obj, form_class, initial: dict, update, saved: str):
    """The edit page of a station group or a package: the form filled with ``initial``;
    a valid POST runs ``update(form)`` (a service call) and goes back to the tariffs page;
    a refusal shows the service's message on the form (400)."""
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            try:
                update(form)
            except cafe.TariffError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, saved % {"name": obj.name})
                return redirect("console:tariffs")
        status = 400
    else:
        form, status = form_class(initial=initial), 200
    return render(request, "console/tariffs/simple_edit.html",
                  {"form": form, "title": obj.name}, status=status)


@never_cache
@capability_required("manage_tariffs")
def group_new(request):
    def create(form):
        d = form.cleaned_data
        return tariffs.create_station_group(actor(request), d["name"], d["tariff"],
                                            d["description"])

    return _add(request, StationGroupForm, "group", create,
                _("Station group %(name)s added."))


@never_cache
@capability_required("manage_tariffs")
def group_edit(request, pk: int):
    group = get_object_or_404(StationGroup, pk=pk)

    def update(form):
        d = form.cleaned_data
        tariffs.update_station_group(actor(request), group, name=d["name"], tariff=d["tariff"],
                                     description=d["description"])

    return _edit(request, group, StationGroupForm,
                 {"name": group.name, "tariff": group.tariff, "description": group.description},
                 update, _("Station group %(name)s saved."))


@never_cache
@capability_required("manage_tariffs")
def package_new(request):
    def create(form):
        return tariffs.create_package(actor(request), **form.package_fields(),
                                      station_groups=form.cleaned_data["station_groups"])

    return _add(request, PackageForm, "package", create, _("Package %(name)s added."))


@never_cache
@capability_required("manage_tariffs")
def package_edit(request, pk: int):
    package = get_object_or_404(Package, pk=pk)

    def update(form):
        tariffs.update_package(actor(request), package, **form.package_fields(),
                               station_groups=form.cleaned_data["station_groups"])

    return _edit(request, package, PackageForm, PackageForm.initial_for(package), update,
                 _("Package %(name)s saved."))


@never_cache
@capability_required("sell_packages")
def package_sell(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = SellPackageForm(request.POST, prefix="sell")
    if form.is_valid():
        customer = accounts.find_customer(form.cleaned_data["customer"])
        if customer is None:
            form.add_error("customer", _("No customer has this user name."))
        else:
            package = form.cleaned_data["package"]
            try:
                tariffs.buy_package(actor(request), customer, package)
            except cafe.TariffError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, _("%(name)s now holds the package %(package)s.") % {
                    "name": customer.username, "package": package.name})
                return redirect("console:tariffs")
    return _page(request, sell_form=form, status=400)


def _amount(exact: int, cur: str) -> str:
    """A line's amount as the console shows money; exact fractions of a minor unit as the
    engine writes them ("≈0.1667 EUR")."""
    if exact % cafe.HOUR == 0:
        return Money(exact // cafe.HOUR, cur).format(language())
    return cafe.format_exact(exact, cur)


@never_cache
@capability_required("view_tariffs")
def quote(request):
    """GET form (works without JavaScript): the charge, line by line."""
    charge = lasts = None
    if "tariff" in request.GET:
        form = QuoteForm(request.GET)
        if form.is_valid():
            d = form.cleaned_data
            group = d["price_group"].strip().lower() or cafe.GUEST
            try:
                charge = tariffs.quote(d["tariff"], form.start_aware(), d["minutes"] * 60,
                                       group)
                if d.get("credit") is not None:
                    seconds = cafe.seconds_for(tariffs.spec_of(d["tariff"]),
                                               form.start_aware(), d["credit"], group)
                    lasts = _("without limit") if seconds is None else \
                        cafe.duration_text(seconds)
            except cafe.TariffError as exc:
                form.add_service_error(exc)
    else:
        now = timezone.localtime().replace(second=0, microsecond=0, tzinfo=None)
        default = tariffs.default_tariff()
        form = QuoteForm(initial={"start": now, "tariff": default, "minutes": 60,
                                  "price_group": cafe.GUEST})
    return render(request, "console/tariffs/quote.html", {
        "form": form, "charge": charge, "currency": currency(), "lasts": lasts,
        "rows": [(line, _amount(line.exact, charge.currency)) for line in charge.lines]
        if charge else [],
        "total": cafe.format_minor(charge.total, charge.currency) if charge else "",
    }, status=400 if form.is_bound and not form.is_valid() else 200)
