from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallshopConfig(AppConfig):
    name = "ficha.callshop"
    label = "callshop"
    verbose_name = _("Call shop")

    def ready(self):
        from ficha.core import jobs

        from . import services

        # prepaid calls whose end and CDR never came: release their credit holds
        jobs.register("callshop.sweep_lost_calls", services.sweep_lost_calls)
