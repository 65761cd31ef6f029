"""Console forms. They only parse and check types; the rules live in the services.

One module an area; every form is importable from ``ficha.console.forms`` as before."""

from __future__ import annotations

from .base import LIMIT_LABELS, ConfirmInput, ConsoleForm, DayField, MoneyField, language
from .customers import (
    AdjustForm,
    CredentialsForm,
    CustomerForm,
    DepositForm,
    NewCustomerForm,
    RefundForm,
)
from .filters import AuditFilterForm, SessionFilterForm
from .hotspot import NasForm, PlanForm
from .login import LoginForm
from .shifts import CloseShiftForm, OpenShiftForm
from .staff import (
    OwnPasswordForm,
    StaffForm,
    StaffPasswordForm,
    StaffRoleForm,
    TokenForm,
    role_choices,
    token_role_choices,
)
from .venue import OutputSettingsFields, SettingsForm

__all__ = [
    "LIMIT_LABELS", "AdjustForm", "AuditFilterForm", "CloseShiftForm", "ConfirmInput",
    "ConsoleForm", "CredentialsForm", "CustomerForm", "DayField", "DepositForm", "LoginForm",
    "MoneyField", "NasForm", "NewCustomerForm", "OpenShiftForm", "OutputSettingsFields",
    "OwnPasswordForm", "PlanForm", "RefundForm", "SessionFilterForm", "SettingsForm",
    "StaffForm", "StaffPasswordForm", "StaffRoleForm", "TokenForm", "language",
    "role_choices", "token_role_choices",
]
