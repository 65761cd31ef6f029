"""SQLite with fair writers: ``ENGINE = "ficha.core.db.sqlite"`` (see base.py)."""
