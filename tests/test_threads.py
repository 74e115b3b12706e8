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
    p = threads._policy
    saved = (p.fixed, list(p.pinned), p.ranks_here)
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
    assert "GRADWISE_NUM_THREADS must be a positive integer or 'auto', got 'lots'" in out.stderr


def test_training_steps_are_identical_whatever_the_thread_count() -> None:
    """The thread count changes where the work runs, not what it computes: OpenBLAS splits a
    product's rows and columns among its threads, never the sum, so each entry is reduced in
    the same order. The layers are large enough (128 x 256 @ 256 x 256, 8.4M multiply-adds)
    for OpenBLAS to use both threads."""
    rng = np.random.default_rng(0)
    x = gw.tensor(rng.standard_normal((128, 256)).astype(np.float32))

    def train(n: int) -> np.ndarray:
        gw.set_num_threads(n)
        gw.manual_seed(0)
        model = gw.nn.Sequential(gw.nn.Dense(256, 256, activation="relu"),
                                 gw.nn.Dense(256, 256))
        opt = gw.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(3):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()
        assert gw.get_num_threads() == n
        return np.concatenate([p.data.ravel() for p in model.parameters()])

    np.testing.assert_array_equal(train(1), train(2))


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
