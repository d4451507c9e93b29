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


class WriteBatch:
    """Writes several files, each atomically, sharing one flush to disk.

    Flushing each file on its own costs a disk round trip per file, which dominates a run that
    rewrites a few dozen feeds; here every changed file is written to a temporary name, one
    ``os.sync()`` makes them all durable, and then each is renamed into place in the order it
    was given (so a file written last, like a manifest, also lands last). On an error no
    target is touched and the temporary files are removed.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def write_if_changed(self, path: Path, data: bytes) -> bool:
        """Stage ``data`` for ``path`` unless the file already holds exactly these bytes."""
        try:
            if path.read_bytes() == data:
                return False
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(name, 0o644)
        self._staged.append((Path(name), path))
        return True

    def commit(self) -> None:
        """Make every staged file durable, then move each into place."""
        if self._staged:
            os.sync()
        for temporary, path in self._staged:
            os.replace(temporary, path)
        self._staged.clear()

    def discard(self) -> None:
        """Remove every staged file; no target is changed."""
        for temporary, _path in self._staged:
            temporary.unlink(missing_ok=True)
        self._staged.clear()

    def __enter__(self) -> WriteBatch:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
