"""The hostile-user campaign of issue 11 against `gradwise train` as a whole: divergence, run
folders, resume after a kill or a signal, optimizer mismatches, temporary files.

Every case runs `gradwise.cli.main` in-process on tiny data (a 200-point spiral, one hidden
layer of 8 units, a few epochs); only the signal test starts a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gradwise as gw
from gradwise.cli import main
from gradwise.errors import CheckpointError
from gradwise.training import loop
from gradwise.training.checkpoint import read_checkpoint, read_safetensors
from gradwise.training.run import EXIT_DIVERGED

TINY = ["--set", "data.n=200", "--set", "model.hidden=[8]", "--set", "model.dropout=0.1",
        "--set", "training.batch_size=32"]


def train(out: Path, *extra: str, epochs: int = 6) -> int:
    return main(["train", "--out", str(out), "--quiet", *TINY,
                 "--set", f"training.epochs={epochs}", *extra])


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())  # strict: json rejects nothing, see
    # test_diverged_summary_is_strict_json for the NaN check


# --- 1. divergence ------------------------------------------------------------------------------

def test_divergence_stops_at_the_first_non_finite_loss(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = train(out, "--set", "optimizer.name=sgd", "--set", "optimizer.lr=100",
                 "--set", "model.dropout=0.0", epochs=20)
    assert code == EXIT_DIVERGED == 3
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if x.startswith("diverged:")]
    assert len(line) == 1
    assert "lower learning rate" in line[0] and "optimizer.lr=10" in line[0]
    s = summary(out)
    d = s["diverged"]
    assert f"at epoch {d['epoch']}, step {d['step']};" in line[0]
    assert s["status"] == "diverged" and s["epochs_run"] == d["epoch"] < 20
    assert s["weights_epoch"] == d["epoch"] - 1 and (out / "model.safetensors").exists()
    assert f"kept the weights after epoch {d['epoch'] - 1}" in line[0]
    weights, _ = read_safetensors(out / "model.safetensors", require_digest=False)
    assert all(np.isfinite(w).all() for w in weights.values())
    assert not s["restored_best_weights"] and not s["stopped_early"]
    assert s["best_epoch"] is None or s["best_epoch"] <= s["weights_epoch"]


def test_divergence_in_the_first_epoch_keeps_no_weights(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = train(out, "--set", "optimizer.name=sgd", "--set", "optimizer.lr=1e6", epochs=5)
    assert code == EXIT_DIVERGED
    assert "kept no weights" in capsys.readouterr().err
    s = summary(out)
    assert s["weights_epoch"] is None and s["best_epoch"] is None and s["saved_model"] == {}
    assert not (out / "model.safetensors").exists()


def test_diverged_summary_is_strict_json(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(out, "--set", "optimizer.name=sgd", "--set", "optimizer.lr=1e6", epochs=5)
    text = (out / "summary.json").read_text()
    assert "NaN" not in text and "Infinity" not in text

    def refuse(value: str) -> None:
        raise ValueError(value)
    s = json.loads(text, parse_constant=refuse)
    assert s["diverged"]["loss"] in ("nan", "inf", "-inf")
    last = s["final"]
    assert any(v is None for v in last.values())  # the non-finite value as null


def test_divergence_keeps_the_last_finite_weights(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A run that goes bad in epoch 3 keeps the weights after epoch 2 and says so."""
    from gradwise.training.guard import Guard

    real = Guard.on_train_batch_end

    def poisoned(self, batch, logs=None):  # noqa: ANN001, ANN202
        if self.epoch == 2 and batch == 1:
            logs = dict(logs or {}, loss=float("inf"))
        real(self, batch, logs)
    monkeypatch.setattr(Guard, "on_train_batch_end", poisoned)
    out = tmp_path / "run"
    assert train(out, epochs=6) == EXIT_DIVERGED
    err = capsys.readouterr().err
    assert "became inf at epoch 3, step 2" in err
    assert "kept the weights after epoch 2" in err
    s = summary(out)
    assert s["weights_epoch"] == 2 and s["status"] == "diverged"
    params, state = read_checkpoint(out / "checkpoint.safetensors")
    assert state["epoch"] == 2
    saved, _ = read_safetensors(out / "model.safetensors", require_digest=False)
    for k, v in params.items():
        np.testing.assert_array_equal(saved[k], v)
    traj, meta = read_safetensors(out / "trajectory.safetensors")
    assert json.loads(meta["epochs"]) == [0, 1, 2]
    assert set(s["saved_model"]) == {"train", "validation"}
    assert not (out / "trajectory").exists()


def test_diverged_loss_figure_does_not_claim_best_or_restored(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from gradwise.lab import plot_history

    h = {"loss": [0.7, 0.6, float("nan")], "val_loss": [0.7, 0.65, float("nan")]}
    es = gw.callbacks.EarlyStopping(restore_best_weights=True)
    es.best_epoch, es.best_weights = 1, {}
    fig = plot_history(h, early_stopping=es, diverged_at=3)
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    labels = [t.get_text() for leg in legends for t in leg.get_texts()]
    assert any("diverged" in t for t in labels)
    assert not any("best epoch" in t or "restored" in t for t in labels)
    # ... and the numbers the figure carries say the same: a diverged mark, no best epoch,
    # no restored weights, the finite epochs drawn.
    d = fig.data
    assert (d["diverged_at"], d["best_epoch"], d["restored"]) == (3, None, None)
    assert d["curves"]["loss"][:2] == [0.7, 0.6]
    assert all(not any("best" in t or "restored" in t for t in ls) for ls in d["labels"].values())


def test_fit_keeps_keras_behaviour_without_terminate_on_nan() -> None:
    gw.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)

    def model():  # noqa: ANN202
        gw.manual_seed(0)
        return gw.nn.Sequential(gw.nn.Dense(2, 8, activation="relu"), gw.nn.Dense(8, 1))
    X[5, 1] = np.nan
    m = model()
    with np.errstate(all="ignore"):
        h = gw.fit(m, "bce_with_logits", gw.optim.SGD(m.parameters(), lr=0.1), (X, y),
                   epochs=3, verbose=0)
    assert len(h.epoch) == 3 and np.isnan(h.history["loss"]).all()  # runs on, as Keras does
    m = model()
    with np.errstate(all="ignore"):
        h = gw.fit(m, "bce_with_logits", gw.optim.SGD(m.parameters(), lr=0.1), (X, y),
                   epochs=3, verbose=0, callbacks=[gw.callbacks.TerminateOnNaN()])
    assert len(h.epoch) == 1


# --- 4. run folders -----------------------------------------------------------------------------

def test_a_folder_holding_a_run_is_refused(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert train(out, epochs=2) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert train(out, epochs=2) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "holds another run" in err and "--overwrite" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_a_folder_with_other_files_but_no_run_is_used_and_they_stay(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert train(out, epochs=1) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "summary.json").exists()


def test_overwrite_removes_the_old_runs_files_only(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert train(out, epochs=2) == 0
    (out / "landscape").mkdir()
    (out / "landscape" / "old.png").write_bytes(b"x")
    (out / "report.html").write_text("old")
    (out / "mine.txt").write_text("keep")
    (out / ".checkpoint.abc.tmp.safetensors").write_bytes(b"partial")
    assert train(out, "--overwrite", "--set", "model.task=classification", epochs=1) == 0
    names = {p.name for p in out.iterdir()}
    assert "landscape" not in names and "report.html" not in names
    assert "mine.txt" in names and not any(".tmp" in n for n in names)
    assert summary(out)["epochs_run"] == 1


def test_a_failed_start_leaves_no_folder(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        ["--set", "model.hidden=[200000,200000]"],
        ["--set", "optimizer.betas=[2.0, 0.5]"],
        ["--set", "optimizer.name=sgd", "--set", "optimizer.momentum=-1"],
        ["--set", "training.device=cuda"] if not gw.cuda_available() else [],
        ["--set", "training.early_stopping.monitor=val_mae"],
    ]
    for i, extra in enumerate(c for c in cases if c):
        out = tmp_path / f"run{i}"
        assert train(out, *extra, epochs=1) == 2, extra
        err = capsys.readouterr().err.strip()
        assert err.startswith("gradwise train: error:") and "\n" not in err, err
        assert not out.exists(), extra


def test_model_too_large_is_refused_with_its_size_in_gib(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train(tmp_path / "r", "--set", "model.hidden=[200000,200000]", epochs=1) == 2
    err = capsys.readouterr().err
    assert "GiB" in err and "model.hidden" in err and "40,001,000,001" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    assert train(ro / "run", epochs=1) == 2
    assert "cannot create the run folder" in capsys.readouterr().err


def test_unwritable_place_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """As root cannot be refused a folder, the operating system's refusal is simulated."""
    import errno

    def refuse(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
    monkeypatch.setattr(Path, "mkdir", refuse)
    assert train(tmp_path / "ro" / "run", epochs=1) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot create the run folder" in err and "Permission denied" in err
    assert "\n" not in err


def test_out_naming_a_file_or_a_path_under_a_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    assert train(f, epochs=1) == 2
    assert "is a file" in capsys.readouterr().err
    assert train(f / "run", epochs=1) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot create the run folder" in err and "\n" not in err
    assert f.read_text() == "x"


def test_out_expands_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert train(Path("~/runs/a"), epochs=1) == 0
    assert (tmp_path / "runs" / "a" / "summary.json").exists()
    assert not Path("~").exists()


def test_files_respect_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert train(tmp_path / "run", epochs=1) == 0
    finally:
        os.umask(old)
    for name in ("summary.json", "model.safetensors", "config.toml", "history.csv"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o640, name


def test_full_disk_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    import errno

    from gradwise import io as gio

    real = gio.write_atomic

    def full(path, data):  # noqa: ANN001, ANN202
        if str(path).endswith("summary.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)
    monkeypatch.setattr("gradwise.training.run.write_atomic", full)
    assert train(tmp_path / "run", epochs=1) == 2
    err = capsys.readouterr().err.strip()
    assert "No space left on device" in err and "summary.json" in err and "\n" not in err


# --- 3. resume ----------------------------------------------------------------------------------

class Killed(BaseException):
    """Stands in for kill -9: nothing after it runs."""


def _files(out: Path) -> dict[str, object]:
    """The run's files: text files as bytes, safetensors as (metadata, name -> raw bytes);
    the safetensors library writes metadata keys in no fixed order, so not the file bytes."""
    files: dict[str, object] = {n: (out / n).read_bytes() for n in ("history.csv",
                                                                    "config.toml")}
    for n in ("model.safetensors", "checkpoint.safetensors", "trajectory.safetensors"):
        tensors, meta = read_safetensors(out / n, require_digest=False)
        files[n] = (meta, {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in tensors.items()})
    return files


def _summary_without_time(out: Path) -> dict:
    s = summary(out)
    s.pop("wall_time_s")
    return s


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    assert train(out, "--set", "training.early_stopping.patience=100", epochs=6) == 0
    return out


@pytest.mark.parametrize(("kill_at", "before_checkpoint"),
                         [(1, False), (3, True), (4, False), (5, True)])
def test_resume_after_a_kill_is_bit_identical(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Path, kill_at: int,
        before_checkpoint: bool) -> None:
    """Killed right after (or right before) the checkpoint of epoch ``kill_at``: with
    ``before_checkpoint`` history.csv is one epoch ahead of the checkpoint."""
    real = loop.write_checkpoint

    def write(path, model, state):  # noqa: ANN001, ANN202
        if state["epoch"] == kill_at and before_checkpoint:
            raise Killed
        real(path, model, state)
        if state["epoch"] == kill_at:
            raise Killed
    monkeypatch.setattr(loop, "write_checkpoint", write)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        train(out, "--set", "training.early_stopping.patience=100", epochs=6)
    monkeypatch.setattr(loop, "write_checkpoint", real)
    (out / ".checkpoint.x1.tmp.safetensors").write_bytes(b"left by a kill")
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert _files(out) == _files(reference)
    assert _summary_without_time(out) == _summary_without_time(reference)
    assert not list(out.glob(".*.tmp*"))


def test_sigint_in_process_checkpoints_and_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    real = loop.write_checkpoint

    def write(path, model, state):  # noqa: ANN001, ANN202
        real(path, model, state)
        if state["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(loop, "write_checkpoint", write)
    out = tmp_path / "run"
    assert train(out, "--set", "training.early_stopping.patience=100", epochs=6) == 130
    printed = capsys.readouterr().out
    assert f"gradwise train --resume {out}" in printed
    s = summary(out)
    assert s["status"] == "interrupted" and s["signal"] == "SIGINT" and s["weights_epoch"] == 2
    assert s["epochs_run"] == 2
    assert len((out / "history.csv").read_text().splitlines()) == 3  # header + 2 epochs
    monkeypatch.setattr(loop, "write_checkpoint", real)
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert _files(out) == _files(reference)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigint_in_the_first_epoch_keeps_nothing_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from gradwise.training.guard import Guard

    real = Guard.on_train_batch_end

    def interrupt(self, batch, logs=None):  # noqa: ANN001, ANN202
        if self.signal is None and batch == 1:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        real(self, batch, logs)
    monkeypatch.setattr(Guard, "on_train_batch_end", interrupt)
    out = tmp_path / "run"
    assert train(out, epochs=3) == 130
    assert "nothing was kept" in capsys.readouterr().out
    s = summary(out)
    assert s["status"] == "interrupted" and s["weights_epoch"] is None
    assert s["epochs_run"] == 0 and not (out / "history.csv").exists()
    assert not (out / "model.safetensors").exists()
    assert not (out / "checkpoint.safetensors").exists()


def test_second_signal_quits_at_once() -> None:
    from gradwise.training.guard import Guard, signals

    guard = Guard(None)
    with pytest.raises(KeyboardInterrupt), signals(guard):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        assert guard.signal == signal.SIGINT
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)


def test_keyboard_interrupt_at_start_up_is_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt
    monkeypatch.setattr("gradwise.training.config.load_config", interrupted)
    assert main(["train", "--quiet"]) == 130
    assert capsys.readouterr().err.strip() == "gradwise train: interrupted"


def test_sigterm_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(Path(gw.__file__).parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradwise.cli", "train", "--out", str(out), "--quiet", *TINY,
         "--set", "training.epochs=100000", "--set", "training.early_stopping.enabled=false"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not (out / "checkpoint.safetensors").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    s = summary(out)
    assert s["status"] == "interrupted" and s["signal"] == "SIGTERM"
    assert "gradwise train --resume" in stdout and "Traceback" not in stderr
    _, state = read_checkpoint(out / "checkpoint.safetensors")
    assert state["epoch"] == s["weights_epoch"] >= 1


def test_resume_refuses_another_optimizer_naming_both(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    real = loop.write_checkpoint

    def write(path, model, state):  # noqa: ANN001, ANN202
        real(path, model, state)
        raise Killed
    monkeypatch.setattr(loop, "write_checkpoint", write)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        train(out, epochs=4)
    monkeypatch.setattr(loop, "write_checkpoint", real)
    cfg = out / "config.toml"
    text = cfg.read_text()
    assert "lr = 0.01\n" in text
    cfg.write_text(text.replace("lr = 0.01\n", "lr = 0.5\n"))
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Adam(" in err and "lr=0.01" in err and "lr=0.5" in err and "\n" == err[-1]
    assert err.count("\n") == 1


def test_fit_resume_into_another_optimizer_class(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    gw.manual_seed(0)
    m = gw.nn.Sequential(gw.nn.Dense(2, 4), gw.nn.Dense(4, 1))
    ckpt = tmp_path / "c.safetensors"
    gw.fit(m, "bce_with_logits", gw.optim.Adam(m.parameters()), (X, y), epochs=1, verbose=0,
           checkpoint_path=ckpt)
    with pytest.raises(CheckpointError, match=r"Adam\(.*SGD\("):
        gw.fit(m, "bce_with_logits", gw.optim.SGD(m.parameters(), lr=0.1), (X, y), epochs=2,
               verbose=0, resume_from=ckpt)


def test_resume_of_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--resume", str(tmp_path / "none"), "--quiet"]) == 2
    assert "not a gradwise run folder" in capsys.readouterr().err
    out = tmp_path / "run"
    assert train(out, epochs=1) == 0
    (out / "checkpoint.safetensors").unlink()
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    assert "no checkpoint.safetensors" in capsys.readouterr().err
    assert main(["train", "--resume", str(out), "--set", "training.epochs=3"]) == 2
    assert "takes no CONFIG" in capsys.readouterr().err


def test_trajectory_is_bounded_and_spread(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert train(out, "--set", "training.early_stopping.enabled=false",
                 "--set", "training.trajectory=5", epochs=13) == 0
    tensors, meta = read_safetensors(out / "trajectory.safetensors")
    epochs = json.loads(meta["epochs"])
    assert epochs == [0, 4, 8, 12, 13]
    assert tensors["trajectory"].shape[0] == len(epochs)


def test_divergence_on_the_gpu_is_noticed_at_the_epoch_end(fake_gpu, tmp_path: Path) -> None:
    """On a GPU the guard reads no step's loss (no host sync per step): the diverged epoch is
    named without a step."""
    out = tmp_path / "run"
    code = train(out, "--set", "optimizer.name=sgd", "--set", "optimizer.lr=1e6",
                 "--set", "training.device=cuda", epochs=5)
    assert code == EXIT_DIVERGED
    d = summary(out)["diverged"]
    assert d["step"] is None and d["epoch"] >= 1


def test_streamed_trajectory_file_equals_the_in_memory_one(tmp_path: Path) -> None:
    from gradwise.training.checkpoint import write_safetensors, write_safetensors_rows

    rows = np.random.default_rng(0).normal(size=(7, 13)).astype(np.float32)
    meta = {"epochs": "[0, 1, 2, 3, 4, 5, 6]", "param_names": "[]"}
    write_safetensors(tmp_path / "a.safetensors", {"trajectory": rows}, meta)
    write_safetensors_rows(tmp_path / "b.safetensors", "trajectory", lambda: iter(rows),
                           rows.shape, meta)
    a, meta_a = read_safetensors(tmp_path / "a.safetensors")
    b, meta_b = read_safetensors(tmp_path / "b.safetensors")  # digest verified
    assert meta_a == meta_b
    np.testing.assert_array_equal(a["trajectory"], b["trajectory"])
    from safetensors.numpy import load_file

    np.testing.assert_array_equal(load_file(tmp_path / "b.safetensors")["trajectory"], rows)


def test_kill_9_then_resume_is_bit_identical(tmp_path: Path) -> None:
    """A real SIGKILL at whatever moment the first checkpoint appears (so at a random point of
    an epoch, possibly with history.csv ahead of the checkpoint), then --resume."""
    extra = ["--set", "model.hidden=[16]", "--set", "data.n=400",
             "--set", "training.early_stopping.enabled=false"]
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(Path(gw.__file__).parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradwise.cli", "train", "--out", str(out), "--quiet", *extra,
         "--set", "training.epochs=60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while not (out / "checkpoint.safetensors").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists()
    _, state = read_checkpoint(out / "checkpoint.safetensors")
    assert 1 <= state["epoch"] < 60
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    ref = tmp_path / "ref"
    assert main(["train", "--out", str(ref), "--quiet", *extra,
                 "--set", "training.epochs=60"]) == 0
    assert _files(out) == _files(ref)
    assert not list(out.glob(".*.tmp*")) and not (out / "trajectory").exists()
