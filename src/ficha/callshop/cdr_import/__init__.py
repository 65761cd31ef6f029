"""CDR import: the PBX's call records into calls, rated and charged once.

Part of the call shop's service layer (re-exported by ``callshop.services``). Reads an
Asterisk ``cdr_csv`` Master.csv or a FreeSWITCH ``mod_cdr_csv`` file (``callshop.cdr``),
from a file or by following a growing one (:class:`Follower`, which survives rotation).

For each record, in batches:

* the call's PBX id (uniqueid / uuid; a hash of the record's fields when the PBX wrote
  none) is looked up: a call known already is a *duplicate* and charges nothing — unless
  it is a call the PBX authorized through the API and never ended (a lost ``end``
  request): the CDR ends it, debiting it exactly as ``end`` would;
* the booth comes from the account code, else from the endpoint in the channel name; an
  account code naming a customer account makes the call a prepaid call of that account;
* the call is rated with the deck of the booth's (or customer's) price group, through
  the deck index's batch path, at the call's answer time in the venue's time zone;
* answered calls of a customer account are debited through the ledger, one transaction
  per batch (each customer's line is the sum of their calls; each call keeps the
  transaction's id); calls of a booth with an open session that began before the call
  are attached to it (paid at checkout); unanswered calls are kept at zero cost;
* a record that cannot be read, whose booth is unknown or whose answered number has no
  rate is reported with its line and reason — and not stored, so importing the file
  again after fixing the cause picks it up (nothing is charged twice either way).

Calls are written in bulk (PostgreSQL ``COPY``, SQLite ``executemany``) in the batch's
transaction; the batch commits as a whole.

The package, by use case: ``result`` (what an import did), ``context`` (what stays the same
during one), ``prepare`` (a batch read and rated), ``store`` (a batch written),
``pipeline`` (lines in batches: :func:`import_lines`), ``files`` (:func:`import_file`) and
``follower`` (:class:`Follower`).
"""

from __future__ import annotations

from .files import import_file
from .follower import Follower
from .pipeline import import_lines
from .prepare import synthetic_uid
from .result import CdrImport, Problem, Progress

__all__ = ["CdrImport", "Follower", "Problem", "Progress", "import_file", "import_lines",
           "synthetic_uid"]
