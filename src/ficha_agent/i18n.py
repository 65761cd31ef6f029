"""The agent's strings, through Python's gettext.

Every string the customer reads is written ``_("...")`` so that ``xgettext``/``pybabel``
can extract it. A small French table is built in (the agent is one file on Windows, no
.mo to lose); other languages fall back to a compiled catalog in ``locale/`` next to this
module when there is one, else to English. The venue's language comes from the server
(``welcome``), so :func:`activate` is called again once connected.
"""

from __future__ import annotations

import gettext
import locale
from pathlib import Path

FRENCH = {
    "This computer is locked": "Cet ordinateur est verrouillé",
    "Log in with your account or a recharge code": (
        "Connectez-vous avec votre compte ou un code de recharge"
    ),
    "Username": "Nom d'utilisateur",
    "Password or PIN": "Mot de passe ou code PIN",
    "Log in": "Se connecter",
    "Recharge code": "Code de recharge",
    "Use the code": "Utiliser le code",
    "or": "ou",
    "Connecting to the server…": "Connexion au serveur…",
    "The server cannot be reached: logging in is not possible for now.": (
        "Le serveur est injoignable : impossible de se connecter pour l'instant."
    ),
    "Please wait…": "Veuillez patienter…",
    "Paused: ask at the counter.": "En pause : adressez-vous au comptoir.",
    "Locked by the staff.": "Verrouillé par le personnel.",
    "Your time is up.": "Votre temps est écoulé.",
    "Time remaining": "Temps restant",
    "No limit": "Sans limite",
    "Balance": "Solde",
    "Redeem a code": "Utiliser un code",
    "Log out": "Se déconnecter",
    "OK": "OK",
    "Cancel": "Annuler",
    "5 minutes left": "Plus que 5 minutes",
    "1 minute left": "Plus qu'une minute",
    "Offline: counting down on this PC": "Hors ligne : décompte sur ce poste",
    "Enter your username and password.": "Saisissez votre nom d'utilisateur et votre mot de passe.",
    "Enter a recharge code.": "Saisissez un code de recharge.",
    "Refused.": "Refusé.",
    "Credited.": "Crédité.",
    "Message from the staff": "Message du personnel",
    "Details": "Détails",
    "Your bill": "Votre facture",
    "Your final bill": "Votre facture finale",
    "Total": "Total",
    "Close": "Fermer",
    "The bill is unavailable offline.": "La facture n'est pas disponible hors ligne.",
    "No bill to show.": "Aucune facture à afficher.",
}

_DIR = Path(__file__).with_name("locale")


class _Table(gettext.NullTranslations):
    def __init__(self, table: dict[str, str]):
        super().__init__()
        self.table = table

    def gettext(self, message: str) -> str:
        return self.table.get(message, message)


_current: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def system_language() -> str:
    lang = (locale.getlocale()[0] or "en").replace("-", "_")
    return lang.split("_")[0].lower() or "en"


def activate(language: str | None) -> str:
    """Switch the agent's language (``fr``, ``fr-FR``, ``pt_BR``...); returns the one used."""
    global _current, _language
    lang = (language or system_language()).replace("-", "_")
    short = lang.split("_")[0].lower()
    if short == "fr":
        _current = _Table(FRENCH)
    else:
        _current = gettext.translation(
            "ficha_agent", localedir=_DIR, languages=[lang, short], fallback=True
        )
    _language = short
    return short


def current() -> str:
    return _language


def _(message: str) -> str:
    return _current.gettext(message)
