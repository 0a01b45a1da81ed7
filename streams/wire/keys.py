"""The snapshot key kept in the state directory: created once, readable by its owner only.

A worker with snapshots on and no ``ADSTREAM_SNAPSHOT_KEY`` signs its snapshots with the key
in ``<state dir>/snapshot.key``; the first process to start creates it, every later one (and
the CLI) reads it. The file appears complete or not at all: the key is written to a private
temporary file (``O_CREAT | O_EXCL``, mode 0600), then linked to its name, which fails if
another process got there first, and then both read the winner's key. A key file that group
or others may read is refused, never used.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "state" / KEY_FILE
>>> key = load_or_create_key(path)
>>> len(key), load_or_create_key(path) == key, oct(path.stat().st_mode & 0o777)
(64, True, '0o600')
>>> path.chmod(0o644)
>>> read_key(path)
Traceback (most recent call last):
...
streams.wire.keys.KeyFileError: ... is readable by group or others (mode 0644): chmod 600 it
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from learners.errors import AdstreamError

__all__ = ["KEY_FILE", "KeyFileError", "load_or_create_key", "read_key", "state_dir"]

KEY_FILE = "snapshot.key"

log = logging.getLogger(__name__)


class KeyFileError(AdstreamError, RuntimeError):
    """The snapshot key file cannot be created or read, or is not private to its owner."""


def state_dir(configured: str = "", environ: Mapping[str, str] | None = None) -> Path:
    """Where adstream keeps its state: ``configured`` (``ADSTREAM_STATE_DIR``) if given, else
    ``$XDG_STATE_HOME/adstream``, else ``~/.local/state/adstream`` (the XDG default).

    >>> state_dir("/srv/adstream"), state_dir(environ={"XDG_STATE_HOME": "/x"})
    (PosixPath('/srv/adstream'), PosixPath('/x/adstream'))
    """
    if configured:
        return Path(configured).expanduser()
    environ = os.environ if environ is None else environ
    xdg = environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "adstream"


def read_key(path: Path) -> str | None:
    """The key in ``path``; ``None`` if there is no such file."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise KeyFileError(f"cannot read the snapshot key file {path}: {error.strerror}") from None
    try:
        mode = os.fstat(descriptor).st_mode  # of the file opened: no swap since a check
        if not stat.S_ISREG(mode):
            raise KeyFileError(f"the snapshot key file {path} is not a regular file")
        if mode & 0o077:
            raise KeyFileError(
                f"the snapshot key file {path} is readable by group or others "
                f"(mode {stat.S_IMODE(mode):04o}): chmod 600 it"
            )
        with os.fdopen(os.dup(descriptor), "rb") as file:
            key = file.read().decode(errors="replace").strip()
    finally:
        os.close(descriptor)
    if not key:
        raise KeyFileError(f"the snapshot key file {path} is empty")
    return key


def load_or_create_key(path: Path) -> str:
    """The key in ``path``, created first (64 hex digits, mode 0600) if there is none.
    Processes that start together agree: the file appears whole, and only once."""
    key = read_key(path)
    if key is not None:
        return key
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_hex(32).encode() + b"\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process created it first: its key it is
            pass
        else:
            _sync_directory(path.parent)
            log.warning(
                "created the snapshot key file %s: every worker and every CLI that reads "
                "snapshots must use this key (share the file, or set ADSTREAM_SNAPSHOT_KEY)",
                path,
            )
    except OSError as error:
        raise KeyFileError(
            f"cannot create the snapshot key file {path}: {error.strerror}"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    key = read_key(path)
    if key is None:
        raise KeyFileError(f"the snapshot key file {path} vanished as it was created")
    return key


def _sync_directory(directory: Path) -> None:
    """Make the new name durable: a key lost in a power cut would orphan every snapshot."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
