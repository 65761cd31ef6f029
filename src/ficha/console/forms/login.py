"""The console's login."""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class LoginForm(AuthenticationForm):
    template_name = "console/forms/div.html"
    required_css_class = "required"
    error_css_class = "has-error"
    # Django's own message says both fields may be case-sensitive; usernames are not.
    error_messages = {**AuthenticationForm.error_messages,
                      "invalid_login": _("Wrong username or password.")}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(autocapitalize="none", autocorrect="off")
