"""gradwise.threads: the thread policy (a fixed count, or auto: the free cores), its limits, and
how it reads the machine's load."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import gradwise as gw
from gradwise import threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _restore_policy():
    """Each test starts as the one gradwise process of its host (the suite's own share of the
    cores, conftest's for pytest-xdist workers, is put aside: these tests set the host's cores
    themselves) and leaves the policy as it found it."""
    p = threads._policy
    saved = (p.fixed, list(p.pinned), p.ranks_here)
    p.ranks_here = 1
    yield
    p.fixed, p.pinned, p.ranks_here = saved[0], saved[1], saved[2]
    gw.set_num_threads("auto")


def test_fixed_count_reaches_openblas_and_stays() -> None:
    gw.set_num_threads(1)
    assert gw.get_num_threads() == 1
    if threads.openblas() is not None:
        assert threads.openblas_threads() == 1
    threads._policy.due = 0.0
    threads.adapt()  # auto mode is off: nothing changes
    assert gw.get_num_threads() == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, "two", True, None])
def test_bad_counts_are_refused_with_the_value(bad: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        gw.set_num_threads(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive integer"):
        with threads.limit(bad):  # type: ignore[arg-type]
            pass


def test_limit_nests_and_restores() -> None:
    gw.set_num_threads(2)
    with threads.limit(1):
        assert gw.get_num_threads() == 1
        with threads.limit(3):
            assert gw.get_num_threads() == 3
        assert gw.get_num_threads() == 1
        threads._policy.due = 0.0
        threads.adapt()  # paused inside a limit
        assert gw.get_num_threads() == 1
    assert gw.get_num_threads() == 2
    if threads.openblas() is not None:
        assert threads.openblas_threads() == 2


def test_choose_is_the_free_cores_rounded_within_one_and_the_cap() -> None:
    assert threads.choose(2, 0.0, 2) == 2
    assert threads.choose(2, 0.4, 2) == 2
    assert threads.choose(2, 0.6, 2) == 1
    assert threads.choose(2, 1.0, 2) == 1
    assert threads.choose(2, 3.5, 2) == 1  # never below one
    assert threads.choose(16, 4.0, 8) == 8  # never above the cap
    assert threads.choose(16, 4.0, 16) == 12
    # going up takes a quarter core more than going down
    assert threads.choose(2, 0.4, 2, current=1) == 1
    assert threads.choose(2, 0.2, 2, current=1) == 2
    assert threads.choose(2, 0.6, 2, current=2) == 1
    assert threads.choose(2, 0.4, 2, current=2) == 2


def test_others_busy_subtracts_this_process() -> None:
    # 1 s of wall time, the machine busy for 1.7 core-seconds, 0.9 of them this process's
    assert threads.others_busy((0.0, 100.0, 5.0), (1.0, 101.7, 5.9)) == pytest.approx(0.8)
    assert threads.others_busy((0.0, 100.0, 5.0), (1.0, 100.5, 5.9)) == 0.0  # jiffy rounding
    assert threads.others_busy((1.0, 0.0, 0.0), (1.0, 5.0, 0.0)) == 0.0  # no time passed


def test_auto_mode_measures_only_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    gw.set_num_threads("auto")
    calls = []
    monkeypatch.setattr(threads, "_sample", lambda: calls.append(1) or None)
    threads._policy.due = 0.0
    threads.adapt()
    threads.adapt()
    threads.adapt()
    assert len(calls) == 1
    threads._policy.due = 0.0
    threads.adapt()
    assert len(calls) == 2


def test_auto_mode_follows_the_measured_load(monkeypatch: pytest.MonkeyPatch) -> None:
    gw.set_num_threads("auto")
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    samples = iter([(0.0, 0.0, 0.0), (1.0, 2.6, 0.5), (2.0, 3.7, 1.0), (3.0, 7.0, 1.1)])
    monkeypatch.setattr(threads, "_sample", lambda: next(samples))
    seen = []
    for _ in range(4):
        threads._policy.due = 0.0
        threads.adapt()
        seen.append(gw.get_num_threads())
    # first step: every core; then others 2.1 -> 2 threads, 0.6 -> 3 (3.4 free), 3.2 -> 1
    assert seen == [4, 2, 3, 1]


def test_cap_divides_the_cores_among_ranks_and_honours_the_user(monkeypatch) -> None:
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    threads.share_cores(3)
    assert threads._policy.cap() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads._policy.cap() == 1
    threads.share_cores(1)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "5")
    assert threads._policy.cap() == 5
    with pytest.raises(ValueError, match="at least 1"):
        threads.share_cores(0)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc/stat (Linux)")
def test_auto_mode_leaves_a_core_to_a_real_busy_process() -> None:
    """With a CPU-bound process running, auto mode gives this one at most cores - 1 threads
    (at least 1); more load elsewhere can only lower it further."""
    cores = threads.available_cores()
    loop = subprocess.Popen([sys.executable, "-c",
                             "import time\nend = time.monotonic() + 20\n"
                             "while time.monotonic() < end: pass\n"])
    try:
        time.sleep(0.3)
        gw.set_num_threads("auto")
        t = time.monotonic()
        while time.monotonic() - t < 1.2:  # this process idles: only the others are busy
            threads.adapt()
            time.sleep(0.05)
        assert 1 <= gw.get_num_threads() <= max(1, cores - 1)
    finally:
        loop.kill()
        loop.wait()


def test_environment_variable_fixes_the_count_or_says_what_is_wrong() -> None:
    code = "import gradwise as gw; print(gw.get_num_threads())"
    env = dict(os.environ, GRADWISE_NUM_THREADS="1", PYTHONPATH=os.path.join(ROOT, "src"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
    env["GRADWISE_NUM_THREADS"] = "lots"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert ("GRADWISE_NUM_THREADS must be a positive integer, 'auto' or 'follow', got 'lots'"
            in out.stderr)


def _loads(monkeypatch: pytest.MonkeyPatch, cores: int, pattern: list[float]) -> None:
    """Simulate a machine of ``cores`` cores whose other processes keep ``pattern`` cores busy
    in turn (through the policy's inputs: the cores and the /proc/stat samples), with auto
    mode re-evaluating at every step."""
    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "INTERVAL", 0.0)
    state = {"t": 0.0, "busy": 0.0, "i": 0}

    def sample() -> tuple[float, float, float]:
        state["t"] += 1.0
        state["busy"] += pattern[state["i"] % len(pattern)]
        state["i"] += 1
        return state["t"], state["busy"], 0.0

    monkeypatch.setattr(threads, "_sample", sample)
    threads._policy.due = 0.0
    threads._policy.last = None


class _Counts(gw.callbacks.Callback):
    """Records the thread count of every training step."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.seen.append(gw.get_num_threads())


def _fit(epochs: int = 3, seed: int | None = 0, **kw) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((70, 8)).astype(np.float32)
    y = rng.integers(0, 3, 70)
    gw.manual_seed(0)
    model = gw.nn.Sequential(gw.nn.Dense(8, 16, activation="relu"), gw.nn.Dropout(0.2),
                             gw.nn.Dense(16, 3))
    opt = gw.optim.Adam(model.parameters(), lr=0.01)
    counts = _Counts()
    gw.fit(model, "cross_entropy", opt, (X, y), epochs=epochs, batch_size=16, seed=seed,
           verbose=0, callbacks=[counts], **kw)
    return np.concatenate([p.data.ravel() for p in model.parameters()]), counts.seen


def test_seeded_run_holds_one_count_whatever_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where this BLAS's products differ between thread counts (simulated: the probe says so),
    a seeded run holds ``cap`` threads however the load changes, so two runs at different loads
    compute the same thing: the same bits. Under "follow" the same loads do change the count
    (the simulation is felt)."""
    gw.set_num_threads("auto")
    monkeypatch.setattr(threads, "bitwise_invariant", lambda compute, counts: False)
    _loads(monkeypatch, 4, [0.0, 3.0, 1.0, 2.0])
    quiet_busy, seen_a = _fit()
    _loads(monkeypatch, 4, [3.5, 0.0, 2.5])
    busy_quiet, seen_b = _fit()
    assert set(seen_a) == set(seen_b) == {4}
    np.testing.assert_array_equal(quiet_busy, busy_quiet)
    gw.set_num_threads("follow")
    _loads(monkeypatch, 4, [0.0, 3.0, 1.0, 2.0])
    assert len(set(_fit()[1])) > 1
    gw.set_num_threads("auto")
    _loads(monkeypatch, 4, [0.0, 3.0, 1.0, 2.0])
    assert len(set(_fit(seed=None)[1])) > 1  # an unseeded run promises nothing: it follows


def test_seeded_run_follows_the_load_where_its_products_are_the_same_at_every_count(
        monkeypatch: pytest.MonkeyPatch) -> None:
    gw.set_num_threads("auto")
    asked = []

    def invariant(compute, counts):
        asked.append(list(counts))
        return True

    monkeypatch.setattr(threads, "bitwise_invariant", invariant)
    _loads(monkeypatch, 4, [0.0, 3.0, 1.0, 2.0])
    assert len(set(_fit()[1])) > 1
    assert asked == [[1, 2, 3, 4]]  # every count auto mode may choose


def test_a_fixed_count_is_kept_and_recorded(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    gw.set_num_threads(1)
    _loads(monkeypatch, 4, [0.0, 3.0])
    _, seen = _fit(checkpoint_path=tmp_path / "c.safetensors")
    assert set(seen) == {1}
    assert gw.training.checkpoint.read_checkpoint(tmp_path / "c.safetensors")[1]["threads"] == 1


def test_resume_holds_the_recorded_count_and_ends_bit_identical(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The checkpoint records the held count; a resume at another load, even where the
    process may now use fewer cores, holds it and ends where the uninterrupted run ends."""
    gw.set_num_threads("auto")
    monkeypatch.setattr(threads, "bitwise_invariant", lambda compute, counts: False)
    _loads(monkeypatch, 3, [0.0])
    whole, _ = _fit(epochs=4)
    ckpt = tmp_path / "c.safetensors"
    _fit(epochs=2, checkpoint_path=ckpt)
    assert gw.training.checkpoint.read_checkpoint(ckpt)[1]["threads"] == 3
    _loads(monkeypatch, 2, [1.9, 0.0, 1.5])
    resumed, seen = _fit(epochs=4, resume_from=ckpt, checkpoint_path=ckpt)
    assert set(seen) == {3}
    np.testing.assert_array_equal(whole, resumed)


def test_bitwise_invariant_compares_every_count() -> None:
    assert threads.bitwise_invariant(lambda: [np.ones(3)], [1, 2, 3])
    assert not threads.bitwise_invariant(lambda: [np.full(3, gw.get_num_threads())], [1, 2])
    seen = []
    threads.bitwise_invariant(lambda: seen.append(gw.get_num_threads()) or [], [1, 2, 3])
    assert seen == [1, 2, 3]


def test_the_probe_runs_the_runs_own_batches_and_changes_nothing() -> None:
    """Forward and backward of the full and the partial last batch (70 = 4 x 16 + 6), and the
    validation loader's sizes; no weight changes, no gradient is left."""
    from gradwise.training.loop import _thread_probe

    gw.manual_seed(0)
    model = gw.nn.Sequential(gw.nn.Dense(8, 16, activation="relu"), gw.nn.Dense(16, 3))
    before = [p.data.copy() for p in model.parameters()]
    X = np.random.default_rng(0).standard_normal((70, 8)).astype(np.float32)
    y = np.zeros(70, dtype=np.int64)
    train = gw.data.DataLoader((X, y), batch_size=16)
    val = gw.data.DataLoader((X[:20], y[:20]), batch_size=16)
    arrays = _thread_probe(model, gw.nn.CrossEntropyLoss(), [train, val, None])()
    outputs = [a.shape for a in arrays if a.shape[-1] == 3 and a.ndim == 2 and a.shape[0] != 16
               or a.shape in ((16, 3),)]
    assert (16, 3) in outputs and (6, 3) in outputs and (4, 3) in outputs
    assert len(arrays) == 3 * (1 + 4)  # per batch size: the output and four gradients
    assert all(p.grad is None for p in model.parameters())
    for a, p in zip(before, model.parameters(), strict=True):
        np.testing.assert_array_equal(a, p.data)


def test_only_the_main_thread_changes_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads of a program (the playground's sessions) train concurrently: none of them may
    change OpenBLAS's thread count under another's matrix product."""
    import threading

    gw.set_num_threads("auto")
    calls = []
    monkeypatch.setattr(threads, "_sample", lambda: calls.append(1) or None)
    threads._policy.due = 0.0
    t = threading.Thread(target=threads.adapt)
    t.start()
    t.join()
    assert calls == []
    threads.adapt()
    assert calls == [1]
