"""Writing files so that readers never see half of one and unchanged files are left alone."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless it already holds exactly these bytes.

    Returns whether the file was written. A temporary file in the same folder is renamed over
    the target, so a crash leaves either the old file or the new one, never a mix; an
    unchanged file keeps its modification time, so HTTP caches (ETag, Last-Modified) stay valid.
    """
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_atomically(path, data)
    return True


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = write_temporary(path.parent, f".{path.name}.", data, 0o644)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_temporary(folder: Path, prefix: str, data: bytes, mode: int) -> Path:
    """A new file in ``folder`` holding ``data``, flushed to disk, for the caller to move."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, mode)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)
