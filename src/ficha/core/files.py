"""The data directory's files are the owner's alone (no Django imports: settings use it).

The SQLite file (and its ``-wal``/``-shm``), the secret key and uploads hold session keys,
password and PIN hashes and ID-document numbers: the data directory is 0700 and every file
in it 0600, made so when created (the process umask is 077, so SQLite and everything else
create files that way) and repaired at every start, for installs made before this rule.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077
# True in a process that only prints help (`ficha COMMAND --help`; ficha.cli sets it
# before the settings load): the settings then create nothing on disk, no data directory,
# secret key or static folder.
HELP_ONLY = False


def secure_data_dir(path: Path) -> list[Path]:
    """Create ``path`` if missing, set the process umask, and tighten every mode under it.

    Returns the paths whose mode was changed (older installs). Symbolic links are left as
    they are (their targets may lie outside the data directory). No-op on Windows, where
    POSIX modes do not apply (the directory's ACL, inherited from the user profile, does).
    """
    if os.name == "nt":  # pragma: no cover - Windows
        path.mkdir(parents=True, exist_ok=True)
        return []
    os.umask(UMASK)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    changed: list[Path] = []

    def tighten(p: Path, wanted: int) -> None:
        try:
            st = os.lstat(p)
        except FileNotFoundError:  # e.g. -shm removed meanwhile
            return
        if stat.S_ISLNK(st.st_mode):
            return
        if stat.S_IMODE(st.st_mode) != wanted:
            os.chmod(p, wanted)
            changed.append(p)

    tighten(path, DIR_MODE)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            tighten(Path(root) / name, DIR_MODE)
        for name in files:
            tighten(Path(root) / name, FILE_MODE)
    return changed
