from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "ficha.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from django.core.signals import request_finished
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from . import roles, throttle
        from .db import prepared

        connection_created.connect(prepared.on_connection_created,
                                   dispatch_uid="ficha.core.db.session_setup")
        post_migrate.connect(roles.sync_roles_signal, sender=self)
        # refused attempts counted during a request are written once it is answered
        request_finished.connect(throttle.flush_after_request,
                                 dispatch_uid="ficha.core.throttle.flush")
