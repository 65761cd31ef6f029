from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HotspotConfig(AppConfig):
    name = "ficha.hotspot"
    label = "hotspot"
    verbose_name = _("Hotspot")

    def ready(self):
        from ficha.core import jobs

        from . import services
        from .services import coa_jobs

        # before the stale-session job: a metered portal session is never "silent"
        jobs.register("hotspot.meter_portal_sessions", services.meter_portal_sessions)
        jobs.register("hotspot.close_stale_sessions", services.close_stale_sessions)
        jobs.register("hotspot.purge_tickets", services.purge_tickets)
        jobs.register("hotspot.review_sessions", services.review_sessions)
        jobs.register("hotspot.send_coa", coa_jobs.send_due)

        from ficha.ledger import services as ledger

        ledger.on_posted(coa_jobs.on_ledger_posted)
