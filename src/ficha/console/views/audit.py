from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import render

from ficha.reports import services as reports

from ..access import capability_required
from ..forms import AuditFilterForm
from .common import paginate


def _changes(entry) -> list[tuple[str, object, object]]:
    """(field, before, after) for every key in either side."""
    before = entry.before if isinstance(entry.before, dict) else {}
    after = entry.after if isinstance(entry.after, dict) else {}
    keys = list(before) + [k for k in after if k not in before]
    return [(k, before.get(k, ""), after.get(k, "")) for k in keys]


@capability_required("view_audit")
def audit_list(request):
    actions, types = reports.audit_choices()
    actors = get_user_model().objects.order_by("username")
    form = AuditFilterForm(request.GET or None, actors=actors, actions=actions,
                           object_types=types)
    filters = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {
            "actor_id": data.get("actor"), "action": data.get("action") or "",
            "object_type": data.get("object_type") or "", "since": data.get("since"),
            "until": data.get("until"), "text": data.get("q") or "",
        }
    page_obj = paginate(request, reports.search_audit(**filters), 50)
    rows = [(e, _changes(e)) for e in page_obj.object_list]
    context = {"form": form, "page_obj": page_obj, "rows": rows, "pager_target": "#audit-rows"}
    if getattr(request, "htmx", False) and request.htmx.target == "audit-rows":
        return render(request, "console/audit/_rows.html", context)
    return render(request, "console/audit/list.html", context)
