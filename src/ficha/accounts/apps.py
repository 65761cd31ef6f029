from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "ficha.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        post_save.connect(_user_saved, sender=get_user_model(),
                          dispatch_uid="ficha.accounts.staff_profile")
        from . import tokens

        tokens.connect_signals()  # the token lookup cache forgets what changed


def _user_saved(sender, instance, raw=False, **kwargs):
    """Every staff user gets a StaffProfile (its Unicode-folded username key), however
    the user was created (console, CLI, Django's createsuperuser)."""
    if raw:
        return
    from .services import sync_staff_profile

    sync_staff_profile(instance)
