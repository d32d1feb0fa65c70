"""Atomic file writes, shared by the sweep store, the training checkpoints and the command line.

:func:`atomic_write` yields a temporary path in the target's directory; when the block ends
normally the file is flushed to disk (fsync), renamed over the target (``os.replace``, atomic on
POSIX) and the directory entry synced, so a crash or Ctrl-C leaves either the old file or the
new one, never a part.  On any exception the temporary file is removed and the target is left
untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write"]


def _fsync(path: Path) -> None:
    """fsync a file or a directory (skipped where the platform cannot open it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:   # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:   # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | Path, *, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, durably.

    The temporary name is ``.<name>.<random>.tmp``, which no pattern of the target's kind
    (``*.npz`` in a store) matches; ``keep_suffix=True`` ends it in the target's suffix instead,
    for writers that choose a format by it (xarray's ``to_netcdf``).
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    suffix = (path.suffix or ".tmp") if keep_suffix else ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _fsync(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync(parent)
