from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    name = "ficha.console"
    label = "console"
    verbose_name = _("Console")

    def ready(self) -> None:
        from ficha.core.middleware import allow_body

        from .views.cdrs import MAX_UPLOAD_BYTES, UPLOAD_PATH

        allow_body(UPLOAD_PATH, MAX_UPLOAD_BYTES)  # PBX call-record files

        from .views.rates import IMPORT_PATH
        from .views.rates import MAX_UPLOAD_BYTES as MAX_DECK_UPLOAD

        allow_body(IMPORT_PATH, MAX_DECK_UPLOAD)  # rate deck files
