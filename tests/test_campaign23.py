"""Issue 23, the second hostile campaign: byte-reproducible files, special files, the report's
embedded images, compressed inputs, corrupt run folders, sweeps run again, and the smaller
holes (noise, schedules, a killed sweep). Each test failed before its fix."""

from __future__ import annotations

import contextlib
import hashlib
import json
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


# --- item 14: corrupt run folders and crafted checkpoints: one line each ------------------------

def _damage_summary(run: Path) -> None:
    (run / "summary.json").write_text("{not json")


def _damage_summary_list(run: Path) -> None:
    (run / "summary.json").write_text("[1, 2]")


def _damage_history(run: Path) -> None:
    (run / "history.csv").write_text("epoch,loss\n0,abc\n")


def _damage_history_cells(run: Path) -> None:
    (run / "history.csv").write_text("epoch,loss\n0,1,2\n")


def _damage_config(run: Path) -> None:
    (run / "config.toml").write_text("[[[")


def _rewrite_trajectory(run: Path, tensors_fn=None, meta_fn=None) -> None:
    tensors, meta = checkpoint.read_safetensors(run / "trajectory.safetensors")
    meta.pop("sha256")
    tensors = tensors_fn(tensors) if tensors_fn else tensors
    meta = meta_fn(meta) if meta_fn else meta
    checkpoint.write_safetensors(run / "trajectory.safetensors", tensors, meta)


def _damage_trajectory_meta(run: Path) -> None:
    _rewrite_trajectory(run, meta_fn=lambda m: dict(m, param_names='[1, "x"'))


def _trajectory_of_another_model(run: Path) -> None:
    _rewrite_trajectory(run, tensors_fn=lambda t: {
        "trajectory": np.zeros((len(t["trajectory"]), 40), np.float32)})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("campaign23") / "run"
    assert train(run, epochs=2) == 0
    assert main(["landscape", str(run), "--resolution", "3", "--directions", "random"]) == 0
    return run


@pytest.mark.parametrize("damage, message", [
    (_damage_summary, r"summary\.json is not valid JSON"),
    (_damage_summary_list, r"summary\.json holds a JSON list, expected an object"),
    (_damage_history, r"history\.csv line 2, column 'loss': 'abc' is not a number"),
    (_damage_history_cells, r"history\.csv line 2: 3 cells, the header has 2"),
    (_damage_config, r"config\.toml is not valid TOML"),
    (_damage_trajectory_meta, r"metadata 'param_names'/'param_shapes' missing or not JSON"),
    (_trajectory_of_another_model, r"holds the trajectory of another model \(40 values a row"),
])
@pytest.mark.parametrize("command", ["report", "landscape"])
def test_a_damaged_run_folder_is_one_line(finished_run: Path, tmp_path: Path, damage, message,
                                          command: str, capsys) -> None:
    import re
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    damage(run)
    capsys.readouterr()
    extra = ["--resolution", "3", "--directions", "random"] if command == "landscape" else []
    assert main([command, str(run), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err


@pytest.mark.parametrize("what", ["inconsistent", "garbage"])
def test_a_stale_or_garbage_landscape_file_is_one_line(finished_run: Path, tmp_path: Path,
                                                       what: str, capsys) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    f = run / "landscape" / "random_2d.npz"
    if what == "garbage":
        f.write_bytes(b"junk")
    else:
        d = dict(np.load(f))
        np.savez(f, **{k: v[:2] if v.ndim else v for k, v in d.items()})
    capsys.readouterr()
    assert main(["landscape", str(run), "--resolution", "3", "--directions", "random"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "random_2d.npz is not a" in err[0] and "delete it" in err[0]
    assert "pickle" not in err[0]


def _crafted(run: Path, change) -> None:
    """Rewrite the run's checkpoint with ``change(state)`` applied and a valid digest, and make
    the run resumable (as if killed: no summary, more epochs to go)."""
    tensors, meta = checkpoint.read_safetensors(run / "checkpoint.safetensors")
    meta.pop("sha256")
    state = json.loads(meta["state"])
    change(state)
    checkpoint.write_safetensors(run / "checkpoint.safetensors", tensors,
                                 dict(meta, state=json.dumps(state)))
    (run / "summary.json").unlink()
    cfg = (run / "config.toml").read_text()
    (run / "config.toml").write_text(cfg.replace("epochs = 2\n", "epochs = 4\n"))


def _set(path: list, value):
    def change(state: dict) -> None:
        o = state
        for k in path[:-1]:
            o = o[k]
        o[path[-1]] = value
    return change


def _all_callback_states(state: dict) -> None:
    for cb in state["callbacks"]:
        for k in cb["state"]:
            cb["state"][k] = "garbage"


@pytest.mark.parametrize("change, message", [
    (_set(["optimizer", "param_groups", 0, "lr"], 1e6),
     r"field 'optimizer/param_groups/0/lr' is 1000000\.0; this run has 0\.01"),
    (_set(["optimizer", "param_groups", 0, "betas"], [2, 0.999]),
     r"field 'optimizer/param_groups/0/betas' is \[2, 0\.999\]"),
    (_set(["optimizer", "param_groups", 0, "eps"], -1), r"'optimizer/param_groups/0/eps' is -1"),
    (_set(["optimizer", "param_groups", 0, "evil"], 1), r"holds hyperparameters"),
    (_set(["optimizer", "state"], {"0": 5}), r"field 'optimizer/state/0' is 5"),
    (_set(["history", "history"], {"loss": "abc"}), r"field 'history/history/loss' is not"),
    (_set(["epoch"], 1), r"field 'history/epoch' is \[0, 1\]; a checkpoint after epoch 1"),
    (_set(["callbacks", 0, "state"], {"x": 1}), r"field 'callbacks/0/state' holds \['x'\]"),
    (_all_callback_states, r"field 'callbacks/1/state/\w+' is 'garbage'"),
    (_set(["threads"], 10**9), r"field 'threads' is 1000000000"),
])
def test_a_crafted_checkpoint_with_a_valid_digest_is_refused_field_by_field(
        tmp_path: Path, change, message: str, capsys) -> None:
    import re

    run = tmp_path / "run"
    assert train(run, "--set", "training.early_stopping.enabled=true", epochs=2) == 0
    _crafted(run, change)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err


def test_a_crafted_schedule_is_refused_and_an_honest_one_resumes(tmp_path: Path,
                                                                 capsys) -> None:
    sched = ["--set", "schedule.name=exponential", "--set", "schedule.gamma=0.5"]
    run = tmp_path / "run"
    assert train(run, *sched, epochs=2) == 0

    def consistent_lr(state: dict) -> None:  # lr and the schedule's last_lr changed together
        state["optimizer"]["param_groups"][0]["lr"] = 1e6
        for cb in state["callbacks"]:
            if "schedule" in cb["state"]:
                cb["state"]["schedule"]["last_lr"] = [1e6]

    _crafted(run, consistent_lr)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not what this run's schedule gives at epoch 2" in err
    run2 = tmp_path / "run2"
    assert train(run2, *sched, epochs=2) == 0

    def gamma(state: dict) -> None:
        for cb in state["callbacks"]:
            if "schedule" in cb["state"]:
                cb["state"]["schedule"]["gamma"] = -1.0

    _crafted(run2, gamma)
    capsys.readouterr()
    assert main(["train", "--resume", str(run2), "--quiet"]) == 2
    assert "the schedule's 'gamma' is -1.0; this run's schedule has 0.5" in capsys.readouterr().err
    run3 = tmp_path / "run3"
    assert train(run3, *sched, epochs=2) == 0
    _crafted(run3, lambda state: None)  # nothing changed: the resume goes through
    assert main(["train", "--resume", str(run3), "--quiet"]) == 0


# --- item 11: a sweep run again into its folder ---------------------------------------------------

SWEEP_SETS = ["data.n=120", "model.hidden=[4]", "training.epochs=2", "training.batch_size=32"]


def test_a_sweep_run_again_keeps_its_intact_runs_and_resumes_an_interrupted_one(
        tmp_path: Path) -> None:
    import csv

    from gradwise.sweep import parse_grid, run_sweep

    grid = parse_grid(["optimizer.lr=[0.01, 0.1]"])
    out = tmp_path / "s"
    first = run_sweep(None, grid, out, sets=SWEEP_SETS, workers=2, log=lambda s: None)
    assert first is not None and [r["status"] for r in first] == ["ok", "ok"]
    runs = [out / r["run"] for r in first]
    stamps = [(r / "model.safetensors").stat().st_mtime_ns for r in runs]
    # the second one as if killed after the checkpoint of epoch 1 of 2
    tensors, meta = checkpoint.read_safetensors(runs[1] / "checkpoint.safetensors")
    meta.pop("sha256")
    state = json.loads(meta["state"])
    state["epoch"] = 1
    state["history"] = {"history": {k: v[:1] for k, v in state["history"]["history"].items()},
                        "epoch": [0]}
    checkpoint.write_safetensors(runs[1] / "checkpoint.safetensors", tensors,
                                 dict(meta, state=json.dumps(state)))
    (runs[1] / "summary.json").unlink()
    lines: list[str] = []
    again = run_sweep(None, grid, out, sets=SWEEP_SETS, workers=2, log=lines.append)
    assert again is not None and [r["status"] for r in again] == ["ok", "ok"]
    with (out / "summary.csv").open(newline="") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["ok", "ok"]
    assert (runs[0] / "model.safetensors").stat().st_mtime_ns == stamps[0]  # not trained again
    assert any("done earlier, kept" in line for line in lines)
    assert json.loads((runs[1] / "summary.json").read_text())["status"] == "completed"
    # a folder holding a run of another config is left alone and named
    other = run_sweep(None, parse_grid(["optimizer.lr=[0.01]"]), out,
                      sets=[*SWEEP_SETS[:-1], "training.batch_size=16"], workers=1,
                      log=lambda s: None)
    assert other is not None and other[0]["status"] == "failed"
    assert "holds a run of another config" in other[0]["error"]
    assert (runs[0] / "model.safetensors").stat().st_mtime_ns == stamps[0]


# --- item 17: killing a sweep stops its workers ---------------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_killing_a_sweep_stops_its_workers(tmp_path: Path, how: str) -> None:
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    cmd = [sys.executable, "-m", "gradwise.cli", "sweep", "--grid", "optimizer.lr=[0.01, 0.02]",
           "--set", "data.n=2000", "--set", "model.hidden=[64, 64]", "--set",
           "training.epochs=100000", "--set", "training.early_stopping.enabled=false",
           "--workers", "2", "--out", str(tmp_path / "s")]
    sweep = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        end = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < end and sweep.poll() is None:
            time.sleep(0.2)
            workers = _children(sweep.pid)
        assert len(workers) == 2, "the sweep did not start its workers"
        time.sleep(1.0)
        sweep.send_signal(getattr(signal, how))
        sweep.wait(30)
        end = time.monotonic() + 30
        while any(_alive(w) for w in workers) and time.monotonic() < end:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), f"workers left training after {how}"
    finally:
        for pid in [sweep.pid, *workers]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        sweep.wait()


# --- item 17: noise beyond float32 and schedules that flip the learning rate ---------------------

def test_toy_noise_beyond_float32_is_a_data_error_not_a_divergence(tmp_path: Path,
                                                                    capsys) -> None:
    code = train(tmp_path / "run", "--set", "data.noise=1e300", epochs=1)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "noise=1e+300: feature values reach inf, beyond float32's range" in err[0]
    assert "learning rate" not in err[0] and not (tmp_path / "run").exists()
    assert train(tmp_path / "ok", "--set", "data.noise=1e3", epochs=1) == 0  # large but fine


@pytest.mark.parametrize("make, message", [
    (lambda o: gw.optim.schedules.ExponentialLR(o, gamma=-1.0), "gamma must be a finite"),
    (lambda o: gw.optim.schedules.StepLR(o, step_size=2, gamma=-0.5), "gamma must be"),
    (lambda o: gw.optim.schedules.ExponentialLR(o, gamma=float("nan")), "gamma must be"),
    (lambda o: gw.optim.schedules.CosineAnnealingLR(o, T_max=5, eta_min=-1.0), "eta_min"),
    (lambda o: gw.optim.schedules.PolynomialLR(o, power=-2.0), "power must be"),
    (lambda o: gw.optim.schedules.OneCycleLR(o, max_lr=-0.1, total_steps=10), "max_lr"),
    (lambda o: gw.optim.schedules.OneCycleLR(o, max_lr=0.1, total_steps=10, div_factor=0),
     "div_factor"),
    (lambda o: gw.optim.schedules.ReduceLROnPlateau(o, min_lr=-1.0), "min_lr"),
])
def test_a_schedule_cannot_flip_the_learning_rate_sign(make, message: str) -> None:
    model = gw.nn.Sequential(gw.nn.Dense(2, 1))
    opt = gw.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=message):
        make(opt)
    assert opt.param_groups[0]["lr"] == 0.1


def test_the_cli_refuses_a_negative_gamma_in_one_line(tmp_path: Path, capsys) -> None:
    code = train(tmp_path / "run", "--set", "schedule.name=exponential",
                 "--set", "schedule.gamma=-1", epochs=1)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "gamma must be a finite number > 0, got -1" in err[0]
