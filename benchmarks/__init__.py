"""gradwise benchmarks against PyTorch: ``python -m benchmarks`` from the repository root.

Modules: :mod:`benchmarks.train_step` (one Adam training step on the four benchmark dense
networks, with GFLOP/s, share of the measured sgemm peak and peak memory),
:mod:`benchmarks.op_overhead` (per-op cost of the engine), :mod:`benchmarks.fit_epoch`
(``gw.fit`` on the MNIST subset against an equivalent PyTorch loop) and
:mod:`benchmarks.optim_step`. Timings are medians of interleaved runs in one process; none of
this is a test.
"""
