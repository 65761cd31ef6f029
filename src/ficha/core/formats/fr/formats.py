"""Date formats in this language follow the venue's setting (see ficha.core.dates)."""

from ficha.core.dates import format_module_values

globals().update(format_module_values("fr"))
