"""Files only their owner may read: the data dir (0700) and what is in it (0600).

The data dir holds every owner's todos, the key hashes, the conversation log and the REPL's line
history (the user's prompts); none of it is for other users of the machine, whatever the umask.
SQLite creates its `-wal` and `-shm` files with the mode of the database file, so creating the
database file 0600 before SQLite opens it covers all three.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) with the last component 0700. A directory that
    already exists keeps its mode: it may be one the user chose and shares on purpose."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty and 0600 if missing; an existing file of ours that others may read
    (as earlier versions left them) is narrowed to 0600. Contents are never touched."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        narrow(path)
    else:
        os.close(fd)
    return path


def narrow(path: Path) -> None:
    """chmod an existing file of ours to 0600 if group or others have any access to it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if st.st_uid == os.getuid() and stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
        os.chmod(path, FILE_MODE)


def private_sqlite(path: Path) -> None:
    """A SQLite database file (and its directory) before SQLite opens it: see the module doc.
    Side files an earlier version left readable are narrowed too."""
    private_dir(path.parent)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        narrow(path.with_name(path.name + suffix))
