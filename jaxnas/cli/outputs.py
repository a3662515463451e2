"""Checks of the command line's output paths, made before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from jaxnas.errors import ConfigError


def check_output_path(path: Path | None, flag: str) -> None:
    """Fail before the search, not after it, when an output file cannot be written (a missing
    folder is created)."""
    if path is None:
        return
    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{flag} {path}: cannot create folder {parent}: "
                          f"{error.strerror or error}") from None
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"{flag} {path}: folder {parent} is not writable")
