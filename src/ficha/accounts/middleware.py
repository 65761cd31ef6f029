from __future__ import annotations

from django.contrib import messages
from django.utils.translation import gettext as _

from . import staff_sessions


class StaffSessionMiddleware:
    """Ends staff sessions that were idle too long, are too old, or were revoked
    (see ``ficha.accounts.staff_sessions``). Goes after the auth and messages middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reason = staff_sessions.check(request)
        if reason is not None:
            staff_sessions.end(request)
            text = {
                staff_sessions.IDLE: _("You were logged out after a while without activity."),
                staff_sessions.EXPIRED: _("Your session was too old; please log in again."),
                staff_sessions.REVOKED: _("You were logged out (password changed or logged "
                                          "out everywhere)."),
            }[reason]
            messages.info(request, text, fail_silently=True)
        return self.get_response(request)
