"""Issue 23, the second hostile campaign: byte-reproducible files, special files, the report's
embedded images, compressed inputs, corrupt run folders, sweeps run again, and the smaller
holes (noise, schedules, a killed sweep). Each test failed before its fix."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

import gradwise as gw
from gradwise.cli import main
from gradwise.training import checkpoint

TINY = ["--set", "data.n=200", "--set", "model.hidden=[8]", "--set", "model.dropout=0.1",
        "--set", "training.batch_size=32"]


def train(out: Path, *extra: str, epochs: int = 4) -> int:
    return main(["train", "--out", str(out), "--quiet", *TINY,
                 "--set", f"training.epochs={epochs}", *extra])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- item 2: files are byte-reproducible ---------------------------------------------------------

def test_the_same_tensors_and_metadata_give_the_same_bytes(tmp_path: Path) -> None:
    """safetensors' own writer orders the metadata as a hash map, differently per call."""
    tensors = {f"t{i}": np.arange(i + 1, dtype=np.float32) for i in range(6)}
    tensors["step"] = np.asarray(3, dtype=np.int64)
    meta = {f"key{i}": str(i) for i in range(12)}
    hashes = set()
    for i in range(8):
        checkpoint.write_safetensors(tmp_path / f"{i}.safetensors", tensors, meta)
        hashes.add(sha(tmp_path / f"{i}.safetensors"))
    assert len(hashes) == 1
    got, md = checkpoint.read_safetensors(tmp_path / "0.safetensors")
    assert md["key7"] == "7" and set(got) == set(tensors)
    from safetensors.numpy import load_file  # the reference reader takes the file
    np.testing.assert_array_equal(load_file(tmp_path / "0.safetensors")["t5"], tensors["t5"])


def test_two_identical_runs_write_identical_files(tmp_path: Path) -> None:
    gw.set_num_threads(1)  # the same process, the same count: only the files' bytes are tested
    try:
        assert train(tmp_path / "a") == 0
        assert train(tmp_path / "b") == 0
    finally:
        gw.set_num_threads("auto")
    for name in ("model.safetensors", "checkpoint.safetensors", "trajectory.safetensors"):
        assert sha(tmp_path / "a" / name) == sha(tmp_path / "b" / name), name


# --- item 10: atomic writes refuse special files ------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_atomic_write_refuses_a_fifo_a_directory_and_a_link_to_them(tmp_path: Path) -> None:
    from gradwise.io import SpecialFileError, write_atomic

    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(fifo)
    for target, kind in ((fifo, "a FIFO"), (tmp_path / "dir", "a directory"),
                         (tmp_path / "link", "a FIFO")):
        with pytest.raises(SpecialFileError, match=f"is {kind}.*not a regular file"):
            write_atomic(target, b"data")
    assert fifo.is_fifo() and (tmp_path / "link").is_symlink()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    model = gw.nn.Sequential(gw.nn.Dense(2, 1))
    with pytest.raises(OSError, match="not a regular file"):
        gw.save(model, fifo)
    write_atomic(tmp_path / "fresh.bin", b"ok")  # absent and regular targets still work
    write_atomic(tmp_path / "fresh.bin", b"ok2")
    assert (tmp_path / "fresh.bin").read_bytes() == b"ok2"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_the_cli_says_one_line_for_a_special_target(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """(A FIFO, not a device: were the check to regress, a test run as root would replace the
    device.)"""
    assert train(tmp_path / "run", epochs=1) == 0
    os.mkfifo(tmp_path / "model.onnx")
    capsys.readouterr()
    code = main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "model.onnx")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "model.onnx is a FIFO (named pipe), not a regular file" in err[0]
    assert (tmp_path / "model.onnx").is_fifo()


# --- item 6: the report embeds only regular files inside the run folder -----------------------

def test_report_never_embeds_what_a_link_points_to(tmp_path: Path) -> None:
    import base64

    run = tmp_path / "run"
    assert train(run, epochs=1) == 0
    secret = tmp_path / "id_rsa"
    secret.write_bytes(b"-----BEGIN PRIVATE KEY----- very secret")
    (run / "loss.png").unlink(missing_ok=True)
    (run / "loss.png").symlink_to(secret)
    (run / "boundary.png").unlink(missing_ok=True)
    (run / "boundary.png").symlink_to("/etc/passwd" if os.path.exists("/etc/passwd") else secret)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "race_rosenbrock.png").write_bytes(b"OUTSIDE-THE-RUN")
    (run / "race").symlink_to(outside)  # a linked folder: its files are outside the run
    config = (run / "config.toml").read_text()
    (run / "config.toml").unlink()
    (tmp_path / "config.toml").write_text(config + "\n# a private note outside the run\n")
    (run / "config.toml").symlink_to(tmp_path / "config.toml")
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    leaks = [secret.read_bytes(), b"OUTSIDE-THE-RUN"]
    if os.path.exists("/etc/passwd"):
        leaks.append(Path("/etc/passwd").read_bytes())
    for leak in leaks:
        assert base64.b64encode(leak)[:16].decode() not in page
    assert "private note" not in page and "very secret" not in page
    assert "loss.png left out: not a regular file inside the run folder" in page
    assert "boundary.png left out" in page


# --- item 15: compressed inputs are bounded before they inflate --------------------------------

def test_a_gzipped_idx_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    import gzip

    from gradwise.errors import DataError

    n = 40_000  # 40000 x 28 x 28 zeros: 31 MB inflated from about 30 KB
    header = bytes([0, 0, 8, 3]) + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(header)
        f.write(bytes(n * 28 * 28))
    assert path.stat().st_size < 100_000
    with pytest.raises(DataError, match="more than 100:1.*decompression bomb"):
        gw.data.read_idx(path)


def test_an_npz_bomb_and_a_lying_npz_header_are_data_errors(tmp_path: Path) -> None:
    import io
    import zipfile

    from gradwise.errors import DataError

    np.savez_compressed(tmp_path / "bomb.npz", x=np.zeros((8000, 1000), np.float32),
                        y=np.zeros(8000, np.int64))
    assert (tmp_path / "bomb.npz").stat().st_size < 200_000
    with pytest.raises(DataError, match=r"array 'x' would inflate .* decompression bomb"):
        gw.data.load_npz(tmp_path / "bomb.npz")
    # a stored .npy member whose header promises 10^12 float64 values in 32 bytes
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 1)})
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as z:
        z.writestr("x.npy", buf.getvalue() + bytes(32))
        y = io.BytesIO()
        np.save(y, np.zeros(4, np.int64))
        z.writestr("y.npy", y.getvalue())
    with pytest.raises(DataError, match=r"array 'x': its header promises shape "
                                        r"\(1000000000000, 1\)"):
        gw.data.load_npz(tmp_path / "liar.npz")
    np.savez_compressed(tmp_path / "fine.npz", x=np.ones((50, 3)), y=np.arange(50))
    X, y_ = gw.data.load_npz(tmp_path / "fine.npz")  # ordinary compressed archives still load
    assert X.shape == (50, 3) and y_.tolist() == list(range(50))
