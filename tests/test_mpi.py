"""Data-parallel training under a real ``mpiexec -n 2`` and ``-n 4`` (oversubscribed) gives the
single-process weights within float64 round-off, on every rank, stops every rank when one stops,
and resumes across N; landscapes over ranks equal the serial ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradwise.cli import main
from gradwise.distributed import shard_bounds, world
from mpi_util import ROOT, env, mpiexec, run

pytestmark = pytest.mark.slow  # processes under mpiexec: the full suite runs them

SCRIPT = str(ROOT / "tests" / "mpi" / "train_spiral.py")
# 20 full epochs, then the last rank alone stops training from a batch hook after step 4 of the
# 21st: every rank must stop there too
ARGS = ["--epochs", "21", "--stop-at", "20", "4"]


def _relative(a: Path, b: Path) -> float:
    with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
        assert sorted(x.files) == sorted(y.files)
        return max(float(np.abs(x[k] - y[k]).max() / np.abs(x[k]).max()) for k in x.files)


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "w.npz"
    run([sys.executable, SCRIPT, str(out), *ARGS])
    return out


def _same_on_every_rank(out: Path, n: int) -> None:
    with np.load(out) as first:
        for r in range(1, n):
            with np.load(f"{out}.rank{r}.npz") as other:
                for k in first.files:  # every rank holds bit for bit the same model
                    np.testing.assert_array_equal(first[k], other[k])


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The run on 4 ranks (the last batch of every epoch leaves two ranks an empty shard),
    and a copy of the checkpoint after epoch 10."""
    launcher = mpiexec()
    tmp = tmp_path_factory.mktemp("four")
    out, half = tmp / "w.npz", tmp / "half.safetensors"
    run([*launcher, "-n", "4", sys.executable, SCRIPT, str(out), *ARGS, "--checkpoint",
         str(tmp / "ck.safetensors"), "--keep-half", str(half)])
    return out, half


def test_four_ranks_equal_one_process(serial: Path, four: tuple[Path, Path]) -> None:
    assert _relative(serial, four[0]) < 1e-10
    _same_on_every_rank(four[0], 4)


def test_whole_pass_metrics_over_four_ranks_equal_one_process(serial: Path,
                                                              four: tuple[Path, Path]) -> None:
    """AUC and F1 need every output of a pass, not a sum: each rank's shard is gathered."""
    with np.load(f"{serial}.history.npz") as one, np.load(f"{four[0]}.history.npz") as many:
        assert {"auc", "f1", "val_auc", "val_f1"} <= set(one.files)
        assert sorted(one.files) == sorted(many.files)
        for k in one.files:
            np.testing.assert_allclose(many[k], one[k], rtol=1e-10, err_msg=k)


def test_two_ranks_resume_four_ranks_and_equal_one_process(serial: Path, four: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    out = tmp_path / "w.npz"
    run([*mpiexec(), "-n", "2", sys.executable, SCRIPT, str(out), *ARGS, "--resume",
         str(four[1])])
    assert _relative(serial, out) < 1e-10
    _same_on_every_rank(out, 2)


def test_collectives_broadcast_average_and_gather() -> None:
    run([*mpiexec(), "-n", "3", sys.executable, str(ROOT / "tests" / "mpi" / "collectives.py")])


def test_shard_bounds_cover_the_batch_like_array_split() -> None:
    for rows in range(0, 12):
        for size in range(1, 6):
            bounds = [shard_bounds(rows, r, size) for r in range(size)]
            want = np.array_split(np.arange(rows), size)
            sizes = [len(w) for w in want]
            starts = np.cumsum([0, *sizes[:-1]])
            assert bounds == [(int(s), int(s) + n) for s, n in zip(starts, sizes, strict=True)]


def test_one_process_without_a_launcher_does_not_import_mpi4py() -> None:
    code = ("import sys, gradwise as gw\n"
            "from gradwise import nn, optim\n"
            "from gradwise.training.loop import fit\n"
            "import numpy as np\n"
            "m = nn.Sequential(nn.Dense(2, 3))\n"
            "fit(m, 'mse', optim.SGD(m.parameters(), lr=0.1), (np.ones((4, 2)), np.ones((4, 3))),"
            " verbose=0)\n"
            "from gradwise.distributed import world\n"
            "assert world().size == 1 and 'mpi4py' not in sys.modules, sys.modules.keys()\n")
    e = {k: v for k, v in env().items() if not k.startswith(("PMI", "OMPI", "PMIX", "MV2"))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e)
    assert proc.returncode == 0, proc.stderr
    assert world().size == 1


def test_launcher_without_mpi4py_says_what_to_install() -> None:
    code = ("import sys\n"
            "sys.modules['mpi4py'] = None\n"  # as if it were not installed
            "from gradwise.distributed import world\n"
            "world()\n")
    e = dict(env(), PMI_RANK="1", PMI_SIZE="2")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "PMI_RANK=1" in last and "pip install 'gradwise[mpi]'" in last


def test_landscape_over_three_ranks_equals_the_serial_one(tmp_path: Path) -> None:
    launcher = mpiexec()
    script = str(ROOT / "tests" / "mpi" / "landscape_grid.py")
    run([sys.executable, script, str(tmp_path / "serial.npz")])
    run([*launcher, "-n", "3", sys.executable, script, str(tmp_path / "mpi.npz")])
    with np.load(tmp_path / "serial.npz") as a, np.load(tmp_path / "mpi.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
        assert not np.isnan(a["loss"]).any()


def test_gradwise_train_under_mpiexec_writes_one_run_folder(tmp_path: Path) -> None:
    launcher = mpiexec()
    sets = ["--set", "training.epochs=3", "--set", "data.n=200", "--set", "model.hidden=[8]"]
    assert main(["train", *sets, "--quiet", "--out", str(tmp_path / "one")]) == 0
    cli = [sys.executable, "-m", "gradwise.cli", "train", *sets, "--quiet"]
    out = run([*launcher, "-n", "2", *cli, "--out", str(tmp_path / "two")], cwd=tmp_path)
    assert out.count("run folder:") == 1  # rank 0 alone prints
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]
    one = np.loadtxt(tmp_path / "one" / "history.csv", delimiter=",", skiprows=1)
    two = np.loadtxt(tmp_path / "two" / "history.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(two, one, rtol=1e-5)  # float32: sums in another order


# --- issue 23 item 12: ranks agree at start, fail together, and record a signal -----------------

PER_RANK = str(ROOT / "tests" / "mpi" / "cli_per_rank.py")
CSV_SETS = ["--set", "data.source=\"csv\"", "--set", "data.path=\"data.csv\"",
            "--set", "model.hidden=[4]", "--quiet"]


def _csv(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 2))
    rows = [f"{a:.6f},{b:.6f},{int(a * b > 0)}" for a, b in X]
    path.write_text("x1,x2,label\n" + "\n".join(rows) + "\n")


def _per_rank(tmp_path: Path, seeds: list[int | None]) -> Path:
    for r, seed in enumerate(seeds):
        (tmp_path / f"rank{r}").mkdir(parents=True)
        if seed is not None:
            _csv(tmp_path / f"rank{r}" / "data.csv", seed)
    return tmp_path


def _launch(cmd: list[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(cmd)} still waiting after {timeout} s: a rank hangs")


def test_ranks_with_different_data_fail_together_in_one_line(tmp_path: Path) -> None:
    base = _per_rank(tmp_path, [0, 1])  # one config, a data file that differs between "hosts"
    proc = _launch([*mpiexec(), "-n", "2", sys.executable, PER_RANK, str(base), "train",
                    *CSV_SETS, "--set", "training.epochs=2", "--out", str(tmp_path / "run")])
    assert proc.returncode != 0
    lines = [x for x in proc.stderr.splitlines() if "gradwise train: error" in x]
    assert len(lines) == 1, proc.stderr
    assert "the MPI ranks disagree on the config and data: rank 0 has SHA-256" in lines[0]
    assert "rank 1 has" in lines[0]
    same = _per_rank(tmp_path / "same", [0, 0])  # the same data on both: trains
    proc = _launch([*mpiexec(), "-n", "2", sys.executable, PER_RANK, str(same), "train",
                    *CSV_SETS, "--set", "training.epochs=2", "--out", str(tmp_path / "ok")])
    assert proc.returncode == 0, proc.stderr


def test_one_rank_failing_alone_ends_every_rank(tmp_path: Path) -> None:
    base = _per_rank(tmp_path, [0, None])  # the data file is missing on rank 1's "host"
    proc = _launch([*mpiexec(), "-n", "2", sys.executable, PER_RANK, str(base), "train",
                    *CSV_SETS, "--set", "training.epochs=2", "--out", str(tmp_path / "run")])
    assert proc.returncode != 0
    assert "gradwise train: error: rank 1:" in proc.stderr and "data.csv" in proc.stderr


def _rank_pid(launcher_pid: int, rank: int) -> int | None:
    """The pid of the process that mpiexec started as ``rank`` (by its environment)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"gradwise.cli" in cmdline and any(
                v in environ for v in (f"PMI_RANK={rank}".encode(),
                                       f"OMPI_COMM_WORLD_RANK={rank}".encode())):
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")
def test_sigint_to_one_rank_is_recorded_as_the_signal(tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "run"
    cmd = [*mpiexec(), "-n", "2", sys.executable, "-m", "gradwise.cli", "train", "--quiet",
           "--set", "data.n=400", "--set", "model.hidden=[16]", "--set",
           "training.epochs=100000", "--set", "training.early_stopping.enabled=false",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env())
    try:
        end = time.monotonic() + 60
        pid = None
        while time.monotonic() < end and (pid is None or not (out / "checkpoint.safetensors")
                                           .exists()):
            time.sleep(0.2)
            pid = pid or _rank_pid(proc.pid, 1)
        assert pid is not None and (out / "checkpoint.safetensors").exists()
        os.kill(pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted", (summary["status"], err)
    assert summary["signal"] == "SIGINT"
    assert summary["epochs_run"] < 100000


def test_compiled_steps_under_mpi_equal_eager_steps_bit_for_bit(tmp_path: Path) -> None:
    """gw.compile under ``mpiexec -n 2`` (the gradient all-reduce a live call of the replayed
    step, dropout drawn for the global batch): the same weights and history, bit for bit, as the
    eager steps, on every rank."""
    out = {}
    for mode in ("off", "on"):
        out[mode] = tmp_path / f"{mode}.npz"
        run([*mpiexec(), "-n", "2", sys.executable, SCRIPT, str(out[mode]), "--epochs", "6",
             "--compile", mode])
        _same_on_every_rank(out[mode], 2)
    for r in range(2):  # the compiled run replayed (6 epochs of 9 batches, 2 recorded)
        assert int(Path(f"{out['on']}.replays.rank{r}").read_text()) >= 20
    with np.load(out["off"]) as a, np.load(out["on"]) as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    with np.load(f"{out['off']}.history.npz") as a, np.load(f"{out['on']}.history.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)

