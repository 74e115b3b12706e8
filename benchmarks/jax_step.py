"""One training step against a compiler: gradwise eager, gradwise under ``gw.compile``, JAX with
the whole step under ``jax.jit`` (optax Adam, buffers donated), and PyTorch eager, interleaved in
one process. The goal (issue 22): ``gw.compile``'s step at most 0.9 of JAX's on every network.

The networks, batches, float32 data and Adam (lr 1e-3, default betas and eps) are those of
:mod:`benchmarks.train_step`. JAX's step is ``value_and_grad`` of the same loss, ``optax.adam``'s
update and ``optax.apply_updates``, compiled once into one XLA program that fuses the update;
each JAX block ends by waiting for the last step's loss (``block_until_ready``), so the time is
the computation's, not the asynchronous dispatch's. XLA's CPU backend runs its own thread pool
over every core (2 here); gradwise and PyTorch get 2 threads. JAX and optax are benchmark-only
dependencies (``pip install -e ".[bench]"``); without them this section says so and is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np

from .common import (
    NETS,
    THREADS,
    Net,
    batch_data,
    fmt_time,
    gradwise_compiled_step,
    gradwise_step,
    interleaved,
    table,
    torch_step,
    try_import_torch,
    update_path,
)
from .train_step import CPU_NETS, PLAN, QUICK_PLAN

GOAL = 0.9  # gradwise's step at most 0.9 of JAX jit's, on every network


def try_import_jax() -> tuple[Any, Any] | None:
    """``(jax, optax)`` on the CPU, or None when either is not installed."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        import jax
        import optax
    except ImportError:
        return None
    return jax, optax


def jax_step(net: Net) -> tuple[Callable[[], None], Callable[[], None]]:
    """``(step, sync)``: one jitted JAX training step on a fixed batch, and a wait for the
    last step's result."""
    found = try_import_jax()
    assert found is not None
    jax, optax = found
    jnp = jax.numpy
    rng = np.random.default_rng(0)
    params = []
    for a, b in pairwise(net.sizes):  # PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        bound = 1.0 / np.sqrt(a)
        params.append((jnp.asarray(rng.uniform(-bound, bound, (a, b)).astype(np.float32)),
                       jnp.asarray(rng.uniform(-bound, bound, (b,)).astype(np.float32))))
    x, y = (jnp.asarray(v) for v in batch_data(net))

    def loss_fn(params: Any, x: Any, y: Any) -> Any:
        h = x
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w + b)
        w, b = params[-1]
        z = h @ w + b
        if net.loss == "bce":  # sigmoid output and BCE with logs clamped at -100, as PyTorch
            p = jax.nn.sigmoid(z)
            logs = y * jnp.maximum(jnp.log(p), -100.0) + (1 - y) * jnp.maximum(
                jnp.log1p(-p), -100.0)
            return -logs.mean()
        return optax.softmax_cross_entropy_with_integer_labels(z, y).mean()

    opt = optax.adam(1e-3)

    def train_step(params: Any, opt_state: Any, x: Any, y: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    compiled = jax.jit(train_step, donate_argnums=(0, 1))
    state: list[Any] = [params, opt.init(params), None]

    def step() -> None:
        state[0], state[1], state[2] = compiled(state[0], state[1], x, y)

    def sync() -> None:
        if state[2] is not None:
            state[2].block_until_ready()

    return step, sync


def run(quick: bool = False) -> str | None:
    """Time every CPU network in the three frameworks; print and return the Markdown report
    (None, after saying why, without JAX)."""
    found = try_import_jax()
    if found is None:
        print("JAX comparison skipped: jax and optax are not installed "
              "(pip install -e '.[bench]')")
        return None
    jax, optax = found
    import gradwise as gw

    gw.set_num_threads("auto")  # each framework's default: gradwise follows the free cores
    torch = try_import_torch()
    rows = []
    for name in CPU_NETS:
        net = NETS[name]
        reps, rounds, _ = (QUICK_PLAN if quick else PLAN)[name]
        step, jax_sync = jax_step(net)
        fns = {"gradwise": gradwise_step(net), "compiled": gradwise_compiled_step(net),
               "jax": step}
        if torch is not None:
            fns["torch"] = torch_step(net)
        t = interleaved(fns, reps, rounds, sync=jax_sync)
        fns.clear()
        ratio = t["compiled"] / t["jax"]
        rows.append([net.label, str(net.batch), fmt_time(t["gradwise"]),
                     fmt_time(t["compiled"]), fmt_time(t["jax"]),
                     f"{t['gradwise'] / t['jax']:.2f}",
                     f"{ratio:.2f} (<= {GOAL}: {'met' if ratio <= GOAL else 'NOT met'})",
                     fmt_time(t["torch"]) if "torch" in t else "-",
                     f"{t['gradwise'] / t['torch']:.2f}" if "torch" in t else "-"])
        print(" | ".join(rows[-1]), flush=True)
    return (
        f"One training step, float32, Adam; JAX {jax.__version__} (jaxlib, XLA CPU) with the "
        f"whole step under `jax.jit` and optax {optax.__version__}, buffers donated; gradwise's "
        f"Adam update: {update_path()}. Each framework with its default threads: gradwise's "
        f"auto policy (the free cores, {THREADS} on a quiet machine), XLA's pool (one thread per "
        f"core), PyTorch {THREADS} (`torch.set_num_threads`). Medians of interleaved blocks.\n\n"
        + "`gw.compile` is the same gradwise step recorded once and replayed (eager on its "
        "first call, recorded on its second; the optimizer step runs live at every replay).\n\n"
        + table(["network", "batch", "gradwise eager/step", "gw.compile/step", "JAX jit/step",
                 "eager/JAX", "compiled/JAX (goal)", "PyTorch/step", "eager/PyTorch"], rows)
        + "\n"
    )
