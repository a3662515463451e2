"""Crash-safe file writes shared by every layer that stores results (base module: imports
nothing from jaxnas).

A file written by :func:`write_bytes_atomic` is, after a kill at any instant, either its old
content or its new content, never a mix: the bytes go to a temporary file that is renamed over
the target (``os.replace`` is atomic on POSIX); with ``fsync`` the data and the rename also
survive a power loss.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename in it) to disk; a no-op where that is refused."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path | str, data: bytes, fsync: bool = True) -> None:
    """Replace ``path``'s content by ``data`` atomically (module docstring)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        fsync_dir(path.parent)


__all__ = ["fsync_dir", "write_bytes_atomic"]
