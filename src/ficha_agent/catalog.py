"""The agent's built-in translations: one table per language, English text → translation.

Plain dicts in one module, so a PyInstaller build (one file on Windows) carries every
language without a ``.mo`` to lose. The words follow the console's catalogs (same terms
for "recharge code", "balance", "log in"...); Portuguese is Brazilian, like the console's.

Every string written ``_("...")`` or ``N_("...")`` in ``ficha_agent`` must be in every
table, with the same placeholders: tests/test_agent_i18n.py fails naming the string and
the language otherwise.
"""

from __future__ import annotations

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
    "This computer must be paired again: ask at the counter.": (
        "Cet ordinateur doit être appairé à nouveau : adressez-vous au comptoir."
    ),
}

SPANISH = {
    "This computer is locked": "Este equipo está bloqueado",
    "Log in with your account or a recharge code": (
        "Inicie sesión con su cuenta o un código de recarga"
    ),
    "Username": "Nombre de usuario",
    "Password or PIN": "Contraseña o PIN",
    "Log in": "Iniciar sesión",
    "Recharge code": "Código de recarga",
    "Use the code": "Usar el código",
    "or": "o",
    "Connecting to the server…": "Conectando con el servidor…",
    "The server cannot be reached: logging in is not possible for now.": (
        "No se puede contactar con el servidor: por ahora no es posible iniciar sesión."
    ),
    "Please wait…": "Espere, por favor…",
    "Paused: ask at the counter.": "En pausa: consulte en el mostrador.",
    "Locked by the staff.": "Bloqueado por el personal.",
    "Your time is up.": "Su tiempo ha terminado.",
    "Time remaining": "Tiempo restante",
    "No limit": "Sin límite",
    "Balance": "Saldo",
    "Redeem a code": "Canjear un código",
    "Log out": "Cerrar sesión",
    "OK": "Aceptar",
    "Cancel": "Cancelar",
    "5 minutes left": "Quedan 5 minutos",
    "1 minute left": "Queda 1 minuto",
    "Offline: counting down on this PC": "Sin conexión: la cuenta atrás sigue en este equipo",
    "Enter your username and password.": "Introduzca su nombre de usuario y su contraseña.",
    "Enter a recharge code.": "Introduzca un código de recarga.",
    "Refused.": "Rechazado.",
    "Credited.": "Saldo añadido.",
    "Message from the staff": "Mensaje del personal",
    "This computer must be paired again: ask at the counter.": (
        "Hay que volver a vincular este equipo: consulte en el mostrador."
    ),
}

ITALIAN = {
    "This computer is locked": "Questo computer è bloccato",
    "Log in with your account or a recharge code": (
        "Accedi con il tuo account o con un codice di ricarica"
    ),
    "Username": "Nome utente",
    "Password or PIN": "Password o PIN",
    "Log in": "Accedi",
    "Recharge code": "Codice di ricarica",
    "Use the code": "Usa il codice",
    "or": "oppure",
    "Connecting to the server…": "Connessione al server…",
    "The server cannot be reached: logging in is not possible for now.": (
        "Il server non è raggiungibile: per ora non è possibile accedere."
    ),
    "Please wait…": "Attendere…",
    "Paused: ask at the counter.": "In pausa: rivolgiti al banco.",
    "Locked by the staff.": "Bloccato dal personale.",
    "Your time is up.": "Il tuo tempo è scaduto.",
    "Time remaining": "Tempo rimanente",
    "No limit": "Senza limite",
    "Balance": "Saldo",
    "Redeem a code": "Riscatta un codice",
    "Log out": "Esci",
    "OK": "OK",
    "Cancel": "Annulla",
    "5 minutes left": "Restano 5 minuti",
    "1 minute left": "Resta 1 minuto",
    "Offline: counting down on this PC": "Offline: il conto alla rovescia continua su questo PC",
    "Enter your username and password.": "Inserisci nome utente e password.",
    "Enter a recharge code.": "Inserisci un codice di ricarica.",
    "Refused.": "Rifiutato.",
    "Credited.": "Credito aggiunto.",
    "Message from the staff": "Messaggio dal personale",
    "This computer must be paired again: ask at the counter.": (
        "Questo computer va associato di nuovo: rivolgiti al banco."
    ),
}

PORTUGUESE = {
    "This computer is locked": "Este computador está bloqueado",
    "Log in with your account or a recharge code": (
        "Entre com sua conta ou com um código de recarga"
    ),
    "Username": "Nome de conta",
    "Password or PIN": "Senha ou PIN",
    "Log in": "Entrar",
    "Recharge code": "Código de recarga",
    "Use the code": "Usar o código",
    "or": "ou",
    "Connecting to the server…": "Conectando ao servidor…",
    "The server cannot be reached: logging in is not possible for now.": (
        "O servidor está inacessível: não é possível entrar por enquanto."
    ),
    "Please wait…": "Aguarde…",
    "Paused: ask at the counter.": "Em pausa: peça ajuda no balcão.",
    "Locked by the staff.": "Bloqueado pela equipe.",
    "Your time is up.": "Seu tempo acabou.",
    "Time remaining": "Tempo restante",
    "No limit": "Sem limite",
    "Balance": "Saldo",
    "Redeem a code": "Usar um código",
    "Log out": "Sair",
    "OK": "OK",
    "Cancel": "Cancelar",
    "5 minutes left": "Faltam 5 minutos",
    "1 minute left": "Falta 1 minuto",
    "Offline: counting down on this PC": "Offline: a contagem continua neste computador",
    "Enter your username and password.": "Digite seu nome de conta e sua senha.",
    "Enter a recharge code.": "Digite um código de recarga.",
    "Refused.": "Recusado.",
    "Credited.": "Crédito adicionado.",
    "Message from the staff": "Mensagem da equipe",
    "This computer must be paired again: ask at the counter.": (
        "Este computador precisa ser pareado de novo: peça ajuda no balcão."
    ),
}

GERMAN = {
    "This computer is locked": "Dieser Computer ist gesperrt",
    "Log in with your account or a recharge code": (
        "Melden Sie sich mit Ihrem Konto oder einem Aufladecode an"
    ),
    "Username": "Benutzername",
    "Password or PIN": "Passwort oder PIN",
    "Log in": "Anmelden",
    "Recharge code": "Aufladecode",
    "Use the code": "Code einlösen",
    "or": "oder",
    "Connecting to the server…": "Verbindung zum Server wird hergestellt…",
    "The server cannot be reached: logging in is not possible for now.": (
        "Der Server ist nicht erreichbar: Anmelden ist im Moment nicht möglich."
    ),
    "Please wait…": "Bitte warten…",
    "Paused: ask at the counter.": "Pausiert: Bitte wenden Sie sich an die Kasse.",
    "Locked by the staff.": "Vom Personal gesperrt.",
    "Your time is up.": "Ihre Zeit ist abgelaufen.",
    "Time remaining": "Restzeit",
    "No limit": "Unbegrenzt",
    "Balance": "Kontostand",
    "Redeem a code": "Code einlösen",
    "Log out": "Abmelden",
    "OK": "OK",
    "Cancel": "Abbrechen",
    "5 minutes left": "Noch 5 Minuten",
    "1 minute left": "Noch 1 Minute",
    "Offline: counting down on this PC": "Offline: Die Zeit läuft auf diesem PC weiter",
    "Enter your username and password.": "Geben Sie Benutzername und Passwort ein.",
    "Enter a recharge code.": "Geben Sie einen Aufladecode ein.",
    "Refused.": "Abgelehnt.",
    "Credited.": "Gutgeschrieben.",
    "Message from the staff": "Nachricht vom Personal",
    "This computer must be paired again: ask at the counter.": (
        "Dieser Computer muss neu gekoppelt werden: Bitte wenden Sie sich an die Kasse."
    ),
}

# language code (ISO 639-1, as in the server's LANGUAGES) → table; English is the msgids.
TABLES: dict[str, dict[str, str]] = {
    "fr": FRENCH,
    "es": SPANISH,
    "it": ITALIAN,
    "pt": PORTUGUESE,
    "de": GERMAN,
}
