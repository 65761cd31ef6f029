"""The recharges window: list, filter, sort and total every code; generate, sell, undo a
sale, delete, void, print and export; one code's history; redeem a code for a customer.

One module per resource: ``window`` (the list and its CSV export), ``batches``
(generate), ``sales`` (sell, unsell, delete), ``printing``, ``codes`` (one code, void)
and ``redeem`` (for a customer). ``console/urls.py`` mounts the views named here.

Every action is a plain POST form (it works without JavaScript) that redirects back to
the window with its filters and a message saying what happened. Filters, sorting and
pages are plain GET links that htmx swaps in place (``#window-results``).
"""

from .batches import generate
from .codes import detail, void
from .printing import print_codes
from .redeem import customer_redeem
from .sales import delete, sell, unsell
from .window import export_csv, window

__all__ = ["customer_redeem", "delete", "detail", "export_csv", "generate", "print_codes",
           "sell", "unsell", "void", "window"]
