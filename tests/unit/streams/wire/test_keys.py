"""The snapshot key file: created once with mode 0600, reused, agreed on by processes that
start together, refused when others may read it."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from streams.wire.keys import KEY_FILE, KeyFileError, load_or_create_key, read_key, state_dir


def test_the_key_is_created_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "state" / KEY_FILE
    key = load_or_create_key(path)
    assert len(key) == 64 and int(key, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert path.read_text().strip() == key
    assert sorted(p.name for p in path.parent.iterdir()) == [KEY_FILE]  # no temporary left


def test_an_existing_key_is_reused_and_never_rewritten(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    first = load_or_create_key(path)
    written = path.stat().st_mtime_ns
    assert load_or_create_key(path) == first == read_key(path)
    assert path.stat().st_mtime_ns == written


def test_a_key_given_by_the_operator_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    os.write(descriptor, b"  from-the-secret-store\n")
    os.close(descriptor)
    assert load_or_create_key(path) == "from-the-secret-store"


def test_no_file_is_no_key(tmp_path: Path) -> None:
    assert read_key(tmp_path / KEY_FILE) is None
    assert not (tmp_path / KEY_FILE).exists()


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    # spawned, not forked: by the time this runs the test process has client threads (forked
    # beside them, a child can inherit a lock held forever)
    context = multiprocessing.get_context("spawn")
    with context.Pool(8) as pool:
        for attempt in range(5):  # each attempt: eight processes race to create one file
            path = tmp_path / str(attempt) / KEY_FILE
            keys = pool.map(load_or_create_key, [path] * 16, chunksize=1)
            assert set(keys) == {read_key(path)}, attempt
            assert sorted(p.name for p in path.parent.iterdir()) == [KEY_FILE]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / KEY_FILE
    key = load_or_create_key(path)
    path.chmod(mode)
    for use in (read_key, load_or_create_key):
        with pytest.raises(KeyFileError, match=rf"readable by group or others \(mode {mode:04o}\)"):
            use(path)
    assert path.read_text().strip() == key  # refused, not replaced


def test_an_empty_or_odd_key_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / KEY_FILE
    empty.touch(mode=0o600)
    with pytest.raises(KeyFileError, match="is empty"):
        load_or_create_key(empty)
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        read_key(directory)


def test_a_state_dir_that_cannot_be_made_is_an_error_naming_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    with pytest.raises(KeyFileError, match=r"snapshot key file .*blocker/state.*: Not a dir"):
        load_or_create_key(blocker / "state" / KEY_FILE)


def test_the_state_dir_is_the_setting_then_xdg_then_the_home_default() -> None:
    assert state_dir("/srv/adstream", {"XDG_STATE_HOME": "/x"}) == Path("/srv/adstream")
    assert state_dir("~/s") == Path.home() / "s"
    assert state_dir("", {"XDG_STATE_HOME": "/x"}) == Path("/x/adstream")
    home_default = Path.home() / ".local" / "state" / "adstream"
    assert state_dir("", {}) == home_default
    assert state_dir("", {"XDG_STATE_HOME": "relative"}) == home_default  # XDG: ignored
