"""Staff roles and what each may do.

Roles are Django groups; capabilities are listed here, in ``CAPABILITIES``. ``can(user,
capability)`` is the one check every view, API handler and CLI command makes: it answers
from the user's role groups and this table, in memory, so a check costs no query once the
user's group names are known (one query per user object, or none when the token lookup
fetched them along, see ``remember_groups``). The same table is also synced into Django
permissions on the unmanaged ``core.Access`` model (``sync_roles``), so
``user.has_perm("core.<capability>")`` gives the same answers. The owner is also a Django
superuser.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

OWNER = "owner"
MANAGER = "manager"
CASHIER = "cashier"
VOUCHER_SELLER = "voucher_seller"
PBX = "pbx"  # a phone system's API token: authorizes and ends booth calls, nothing else

ROLES = (OWNER, MANAGER, CASHIER, VOUCHER_SELLER)  # staff roles
TOKEN_ROLES = (*ROLES, PBX)  # what an API token may have
ROLE_LABELS = {
    OWNER: _("Owner"),
    MANAGER: _("Manager"),
    CASHIER: _("Cashier"),
    VOUCHER_SELLER: _("Voucher seller"),
    PBX: _("Phone system (PBX)"),
}

_ALL = set(ROLES)
_CASH = {OWNER, MANAGER, CASHIER}
_MGMT = {OWNER, MANAGER}

# capability -> (label, roles that have it)
CAPABILITIES: dict[str, tuple[str, set[str]]] = {
    "view_dashboard": (_("See the dashboard"), _ALL),
    "view_customers": (_("See customers"), _CASH),
    "manage_customers": (_("Create and edit customers"), _CASH),
    "deposit": (_("Deposit cash to a customer"), _CASH),
    "refund": (_("Refund a customer"), _CASH),
    "adjust": (_("Adjust a balance manually"), _MGMT),
    "use_shift": (_("Open and close a cash shift"), _ALL),
    "view_all_shifts": (_("See every shift"), _MGMT),
    "manage_staff": (_("Manage staff and roles"), {OWNER}),
    "view_audit": (_("Browse the audit log"), _MGMT),
    "manage_settings": (_("Change settings"), {OWNER}),
    "manage_tokens": (_("Create and revoke API tokens"), {OWNER}),
    "view_alerts": (_("See alerts"), _MGMT),
    "ack_alerts": (_("Acknowledge alerts"), _MGMT),
    "view_recharges": (_("List recharges"), _ALL),
    "generate_recharges": (_("Generate recharges"), _MGMT),
    "sell_recharges": (_("Sell recharges"), _ALL),
    "print_recharges": (_("Print recharges"), _ALL),
    "unsell_recharges": (_("Undo a sale in the same shift"), _CASH),
    "delete_recharges": (_("Delete unsold recharges"), _MGMT),
    "void_recharges": (_("Void sold recharges"), {OWNER}),
    "export_recharges": (_("Export recharges"), _MGMT),
    "redeem_for_customer": (_("Redeem a code for a customer"), _CASH),
    "view_reports": (_("See reports"), _MGMT),
    "manage_hotspot": (_("Manage the hotspot (gateways, plans, sessions)"), _MGMT),
    "operate_stations": (_("See the room map, run café sessions and station commands"), _CASH),
    "manage_stations": (_("Add, arrange, pair and unpair café stations"), _MGMT),
    "manage_tariffs": (_("Manage café tariffs, station groups and time packages"), _MGMT),
    "view_tariffs": (_("See café tariffs and what time costs"), _CASH),
    "sell_packages": (_("Sell time packages from a customer's credit"), _CASH),
    "use_booths": (_("Open phone booths and take payment for calls"), _CASH),
    "manage_booths": (_("Set up phone booths and the counter's cash rounding"), _MGMT),
    "pbx_calls": (_("Authorize and end booth calls (phone system)"), {OWNER, PBX}),
    "import_cdrs": (_("Import call records (CDR) from the phone system"), _MGMT),
    "manage_rates": (_("Manage call rate decks and see what a call costs"), _MGMT),
}

# role -> the capabilities it has (the table above, turned around)
ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    role: frozenset(c for c, (_label, allowed) in CAPABILITIES.items() if role in allowed)
    for role in TOKEN_ROLES
}


def perm(capability: str) -> str:
    """The Django permission name for a capability: ``core.<capability>``."""
    if capability not in CAPABILITIES:
        raise KeyError(capability)
    return f"core.{capability}"


def remember_groups(user, names) -> None:
    """Cache the names of ``user``'s groups on this user object (a caller that fetched
    them along with the user, e.g. the API token lookup, saves ``can`` its query)."""
    user._ficha_groups = frozenset(names)
    _drop(user, "_ficha_role")


def _drop(user, attr: str) -> None:
    # delattr, not user.__dict__: request.user is a lazy proxy whose own __dict__ is not
    # the user's (reading it there missed every time: one query per ``can`` in a page)
    try:
        delattr(user, attr)
    except AttributeError:
        pass


def forget_groups(user) -> None:
    """Drop what this user object cached about its groups (after changing them)."""
    for attr in ("_ficha_groups", "_ficha_role", "_perm_cache", "_group_perm_cache"):
        _drop(user, attr)


def group_names(user) -> frozenset[str]:
    """The names of the user's groups, read once per user object."""
    names = getattr(user, "_ficha_groups", None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))
        user._ficha_groups = names
    return names


def role_of(user) -> str | None:
    """The user's role (the first role group they belong to), or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    cached = getattr(user, "_ficha_role", "unset")
    if cached != "unset":
        return cached
    names = group_names(user)
    role = next((r for r in TOKEN_ROLES if r in names), None)
    if role is None and user.is_superuser:
        role = OWNER
    user._ficha_role = role
    return role


def can(user, capability: str) -> bool:
    """May ``user`` do ``capability``? Active users only; a superuser may do everything
    (as with Django's ``has_perm``); anyone else needs a role group that has it."""
    perm(capability)  # an unknown capability is a programming error
    if user is None or not getattr(user, "is_active", False):
        return False
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return any(capability in ROLE_CAPABILITIES.get(name, ()) for name in group_names(user))


def sync_roles() -> None:
    """Create the role groups and give each exactly its capabilities."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from .models import Access

    ct = ContentType.objects.get_for_model(Access, for_concrete_model=False)
    perms = {}
    for codename, (label, _roles) in CAPABILITIES.items():
        p, _created = Permission.objects.get_or_create(
            content_type=ct, codename=codename, defaults={"name": str(label)[:255]}
        )
        perms[codename] = p
    for role in TOKEN_ROLES:
        group, _created = Group.objects.get_or_create(name=role)
        wanted = [perms[c] for c, (_l, roles) in CAPABILITIES.items() if role in roles]
        group.permissions.set(wanted)


def sync_roles_signal(sender, **kwargs) -> None:
    sync_roles()
