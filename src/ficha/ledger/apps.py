from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    name = "ficha.ledger"
    label = "ledger"
    verbose_name = _("Ledger")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from ficha.core import jobs

        from . import guard, services

        connection_created.connect(guard.on_connection_created)
        jobs.register("ledger.checkpoint_long_histories", services.checkpoint_long_histories)
