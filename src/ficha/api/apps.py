from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "ficha.api"
    label = "api"
    verbose_name = _("Api")

    def ready(self) -> None:
        from ficha.core import jobs

        from . import services

        jobs.register("api.idempotency_purge", services.purge_idempotency_keys)
