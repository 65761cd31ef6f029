from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StationsConfig(AppConfig):
    name = "ficha.stations"
    label = "stations"
    verbose_name = _("Stations")

    def ready(self):
        from ficha.core import jobs

        from . import services

        jobs.register("stations.meter", services.meter_running)
        jobs.register("stations.silent", services.check_silent)
