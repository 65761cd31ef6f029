"""Settings for the test suite: a throw-away data directory, SQLite or PostgreSQL.

The suite runs on SQLite (a real file, so WAL and several connections work as in
production). With ``FICHA_TEST_DATABASE_URL`` set it runs on that PostgreSQL instead.
"""

import os
import tempfile

os.environ["FICHA_DATA_DIR"] = tempfile.mkdtemp(prefix="ficha-test-")
_pg = os.environ.get("FICHA_TEST_DATABASE_URL", "")
if _pg:
    os.environ["FICHA_DATABASE_URL"] = _pg
else:
    os.environ.pop("FICHA_DATABASE_URL", None)

from ficha.settings import *  # noqa: E402,F403
from ficha.settings import DATA_DIR, DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"] == "ficha.core.db.sqlite":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

# Argon2 is the production hasher (tests/test_security.py checks it); the suite hashes
# thousands of passwords, so it uses a fast one.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
LANGUAGE_CODE = "en"
