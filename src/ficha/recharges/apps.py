from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RechargesConfig(AppConfig):
    name = "ficha.recharges"
    label = "recharges"
    verbose_name = _("Recharges")

    def ready(self) -> None:
        from ficha.core import jobs

        from . import services

        jobs.register("recharges.expire", services.expire_due)
        jobs.register("recharges.failure_rate", services.check_failure_rate)
