from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HotspotConfig(AppConfig):
    name = "ficha.hotspot"
    label = "hotspot"
    verbose_name = _("Hotspot")

    def ready(self):
        from ficha.core import jobs

        from . import services

        jobs.register("hotspot.close_stale_sessions", services.close_stale_sessions)
        jobs.register("hotspot.purge_tickets", services.purge_tickets)
