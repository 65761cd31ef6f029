from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallshopConfig(AppConfig):
    name = "ficha.callshop"
    label = "callshop"
    verbose_name = _("Call shop")
