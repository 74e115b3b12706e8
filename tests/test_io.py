"""gradwise.io: atomic writes leave the old file or the whole new one, never a temporary."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradwise.io import atomic_path, write_atomic


def test_write_atomic_creates_folders_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.bin"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["b.bin"]


def test_error_inside_the_block_keeps_the_old_file_and_removes_the_temporary(
        tmp_path: Path) -> None:
    path = tmp_path / "fig.gif"
    write_atomic(path, b"old")
    with pytest.raises(RuntimeError, match="writer failed"), atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".gif"
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.gif"]
