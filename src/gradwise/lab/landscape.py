"""Loss landscapes of a trained network (Li, Xu, Taylor, Studer, Goldstein, "Visualizing the Loss
Landscape of Neural Nets", NeurIPS 2018) and 1D interpolation (Goodfellow, Vinyals, Saxe 2015).

The loss is evaluated on a plane (or line) through weight space,
``J(theta + a d1 + b d2)`` for ``(a, b)`` on a grid, with directions that are

- random Gaussian with *filter normalization*: for each filter ``j`` of layer ``i`` (a column of
  a Dense weight of shape (in, out): the weights into one unit),
  ``d_ij <- d_ij ||theta_ij|| / ||d_ij||``; biases get a zero direction unless included
  (then the bias itself, as in net_plotter);
- the first two principal components of the training trajectory ``theta_t - theta_final``;
- for 1D interpolation, ``theta(a) = (1 - a) theta_init + a theta_final``.

Speed: every point is written as ``theta(c) = sum_j c_j B_j`` over a small basis ``B`` (the
centre and the directions). The first layer is linear in the weights, so ``X @ W1(c) =
sum_j c_j (X @ W1_j)``: the products with the data are computed once per basis vector and each
grid point costs a weighted sum. Later layers run for a whole grid row at once as one batched
matrix product, rows are spread over threads (one per core, each with a single-threaded BLAS:
measured faster than one thread with a multi-threaded BLAS, see ``benchmarks/RESULTS.md``),
and the grid is saved to an NPZ after rows finish so that an interrupted run resumes where it
stopped.
"""

from __future__ import annotations

import os
import time
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from .. import backend, distributed
from ..autograd import Tensor
from ..errors import DataError
from ..nn import Dense, Dropout, Flatten, Module, Sequential
from ..nn.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from ..nn.utils import flat_parameters
from ..ops import activate_
from ..threads import available_cores
from .blas import blas_threads
from .files import save_npz

__all__ = [
    "Landscape", "filter_normalize", "flat_parameters", "interpolate", "loss_along",
    "loss_surface", "pca_directions", "random_directions",
]

_MEMORY_BUDGET = 256 * 2**20  # bytes of activations per batch of grid points


def filter_normalize(direction: Sequence[np.ndarray], weights: Sequence[np.ndarray],
                     include_bias: bool = False) -> list[np.ndarray]:
    """Li et al.'s filter normalization, parameter by parameter.

    For a weight of 2 or more axes, each filter (the slice along the last axis: for a Dense
    weight (in, out), column ``j``, the weights into unit ``j``) is rescaled,
    ``d_j <- d_j ||w_j|| / ||d_j||``. A 1-axis parameter (a bias) gets the zero direction
    (``ignore='biasbn'``), or, with ``include_bias``, the parameter itself, ``d_b <- b``, as
    ``normalize_directions_for_weights`` in Li et al.'s ``net_plotter.py``
    (tomgoldstein/loss-landscape) does when biases are not ignored.
    """
    if len(direction) != len(weights):
        raise ValueError(f"{len(direction)} direction arrays for {len(weights)} parameters")
    out = []
    for d, w in zip(direction, weights, strict=True):
        d, w = np.asarray(d, dtype=np.float64), np.asarray(w, dtype=np.float64)
        if d.shape != w.shape:
            raise ValueError(f"direction of shape {d.shape} for a parameter of shape {w.shape}")
        if w.ndim <= 1:
            out.append(w.copy() if include_bias else np.zeros_like(d))
            continue
        axes = tuple(range(w.ndim - 1))
        d_norm = np.sqrt((d * d).sum(axis=axes, keepdims=True))
        w_norm = np.sqrt((w * w).sum(axis=axes, keepdims=True))
        out.append(d * (w_norm / np.maximum(d_norm, 1e-30)))
    return out


def random_directions(model: Module, n: int = 2, seed: int = 0,
                      include_bias: bool = False) -> np.ndarray:
    """``n`` filter-normalized Gaussian directions, shape (n, n_params), float64 (Li et al.)."""
    rng = np.random.default_rng(seed)
    weights = [backend.to_numpy(p.data) for p in model.parameters()]
    dirs = []
    for _ in range(n):
        raw = [rng.standard_normal(w.shape) for w in weights]
        dirs.append(np.concatenate([d.ravel() for d in filter_normalize(raw, weights,
                                                                        include_bias)]))
    return np.stack(dirs)


def pca_directions(trajectory: np.ndarray, n: int = 2
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal directions of a training trajectory (Li et al., section 7).

    With ``M`` the rows ``theta_t - theta_final`` and ``M_c`` its column-centred copy,
    ``M_c = U S V^T``: returns the first ``n`` rows of ``V^T`` (orthonormal, float64), their
    explained variance ratios ``S_k^2 / sum S^2``, and the trajectory's coordinates
    ``(theta_t - theta_final) . v_k`` (shape (T, n); the final weights sit at the origin). Signs
    are chosen so that the initial weights have non-negative coordinates.
    """
    traj = np.asarray(trajectory, dtype=np.float64)
    if traj.ndim != 2 or traj.shape[0] < n + 1:
        raise ValueError(
            f"PCA directions need a trajectory of shape (T, n_params) with T >= {n + 1} "
            f"checkpoints, got {traj.shape}"
        )
    diffs = traj - traj[-1]
    _, s, vt = np.linalg.svd(diffs - diffs.mean(axis=0), full_matrices=False)
    dirs = vt[:n].copy()
    coords = diffs @ dirs.T
    flip = np.where(coords[0] < 0, -1.0, 1.0)
    dirs *= flip[:, None]
    coords *= flip
    return dirs, (s[:n] ** 2) / (s**2).sum(), coords


# --- evaluation -------------------------------------------------------------------------------

def _layers(model: Module) -> list[Module]:
    out: list[Module] = []
    stack = [model]
    while stack:
        m = stack.pop(0)
        if isinstance(m, Sequential):
            stack = list(m) + stack
        elif not isinstance(m, Dropout | Flatten):
            out.append(m)
    dense = [m for m in out if isinstance(m, Dense)]
    if not dense or not isinstance(out[0], Dense) or any(
            not isinstance(m, Dense) and next(m.parameters(), None) is not None for m in out):
        raise ValueError(
            "loss landscapes evaluate Sequential models of Dense layers, Dropout and parameter-"
            f"free activations, starting with a Dense layer; got {model!r}"
        )
    return out


def _apply(module: Module, z: np.ndarray) -> np.ndarray:
    # A tensor that does not require grad records no graph, so no no_grad() is needed here
    # (it is per thread; worker threads run this concurrently).
    return module(Tensor(z, dtype=z.dtype)).data


class _Evaluator:
    """Loss and accuracy of ``model`` at ``theta(c) = sum_j c_j B_j`` for rows ``c`` of a
    coefficient matrix, in the model's dtype, in eval mode (dropout off)."""

    def __init__(self, model: Module, loss: Module, X: np.ndarray, y: np.ndarray,
                 basis: np.ndarray) -> None:
        self.layers = _layers(model)
        if not isinstance(loss, MSELoss | BCELoss | BCEWithLogitsLoss | CrossEntropyLoss):
            raise ValueError(f"loss landscapes support mse, bce, bce_with_logits and "
                             f"cross_entropy losses, got {loss!r}")
        self.per_sample = type(loss)("none")
        self.regression = isinstance(loss, MSELoss)
        self.probabilities = isinstance(loss, BCELoss)
        params = list(model.parameters())
        self.dtype = params[0].dtype
        self.X = np.asarray(X, dtype=self.dtype).reshape(len(X), -1)
        self.y = np.asarray(y)
        # class labels: y itself, or one column of 0/1 (binary), or the argmax of one-hot rows
        self.labels = self.y.reshape(len(self.y)) if self.y.ndim == 1 or self.y.shape[-1] == 1 \
            else self.y.argmax(axis=-1)
        basis = np.asarray(basis)
        offsets = np.cumsum([0] + [p.data.size for p in params])
        where = {id(p): (offsets[i], p.shape) for i, p in enumerate(params)}

        def slices(p: Any) -> np.ndarray:
            start, shape = where[id(p)]
            size = int(np.prod(shape))
            return basis[:, start:start + size].reshape(len(basis), *shape).astype(self.dtype)

        self.weights: list[Any] = [(slices(m.weight), None if m.bias is None else slices(m.bias))
                        if isinstance(m, Dense) else None for m in self.layers]
        first_w, _ = self.weights[0]
        self.xw = np.stack([self.X @ w for w in first_w])  # (J, N, h1)
        widths = [m.out_features for m in self.layers if isinstance(m, Dense)]
        per_point = len(self.X) * max(widths) * self.X.itemsize * 4
        self.batch = max(1, _MEMORY_BUDGET // per_point)

    def _post(self, layer: Any, z: np.ndarray) -> np.ndarray:
        # The fused activations, in place, exactly as the fused Dense kernel computes them.
        z = activate_(z, layer.fused_activation)
        return z if layer.activation is None else _apply(layer.activation, z)

    def __call__(self, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        coeffs = np.asarray(coeffs, dtype=self.dtype)
        parts = [self._evaluate(coeffs[i:i + self.batch])
                 for i in range(0, len(coeffs), self.batch)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _evaluate(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k, (n, _) = len(c), self.X.shape
        a: Any = None
        for layer, wb in zip(self.layers, self.weights, strict=True):
            if wb is None:
                a = _apply(layer, a)
                continue
            w, b = wb
            if a is None:
                z = (c @ self.xw.reshape(len(self.xw), -1)).reshape(k, n, -1)
            else:
                wk = (c @ w.reshape(len(w), -1)).reshape(k, *w.shape[1:])
                z = np.empty((k, n, wk.shape[-1]), dtype=self.dtype)
                for i in range(k):  # one 2D product per point is faster than stacked matmul
                    np.matmul(a[i], wk[i], out=z[i])
            if b is not None:
                z += (c @ b)[:, None, :]
            a = self._post(layer, z)
        return self._loss(a)

    def _loss(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k, n, width = out.shape
        y = self.y
        if width == 1 and y.ndim == 1 and not isinstance(self.per_sample, CrossEntropyLoss):
            y = y[:, None]
        target = np.tile(y, (k,) + (1,) * (y.ndim - 1))
        per = self.per_sample(Tensor(out.reshape(k * n, width), dtype=out.dtype), target)
        loss = per.data.reshape(k, -1).mean(axis=1).astype(np.float64)
        if self.regression:
            return loss, np.full(k, np.nan)
        if width == 1:
            pred = out[..., 0] > (0.5 if self.probabilities else 0.0)
        else:
            pred = out.argmax(axis=-1)
        return loss, (pred == self.labels).mean(axis=1)


def _run_rows(evaluate: _Evaluator, rows: Iterable[tuple[int, np.ndarray]], workers: int,
              on_row: Any) -> None:
    rows = list(rows)
    if distributed.world().size > 1:
        _run_rows_mpi(evaluate, rows, on_row)
        return
    if workers <= 1:
        for i, c in rows:
            on_row(i, *evaluate(c))
        return
    with blas_threads(1), ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [(i, pool.submit(evaluate, c)) for i, c in rows]
        try:
            for i, fut in futures:
                on_row(i, *fut.result())
        except BaseException:
            for _, fut in futures:
                fut.cancel()
            raise


def _run_rows_mpi(evaluate: _Evaluator, rows: list[tuple[int, np.ndarray]],
                  on_row: Any) -> None:
    """Under MPI: rank ``r`` of ``N`` evaluates rows ``r, r + N, ...`` (one BLAS thread each),
    and every rank receives every row (``MPI_Allgatherv``), handed to ``on_row`` in order.
    Each point's value does not depend on where it is computed, so the result is the serial
    one bit for bit."""
    w = distributed.world()
    mine = rows[w.rank::w.size]
    with blas_threads(1):
        done = [evaluate(c) for _, c in mine]
    index = distributed.allgather_arrays(np.array([i for i, _ in mine], dtype=np.int64))
    sizes = distributed.allgather_arrays(np.array([lv.size for lv, _ in done], dtype=np.int64))
    parts = [distributed.allgather_arrays(np.concatenate([d[k].ravel() for d in done] or [
        np.empty(0)]).astype(np.float64)) for k in (0, 1)]
    got = {}
    for r in range(w.size):
        cut = np.cumsum(sizes[r])[:-1]
        for i, lv, av in zip(index[r], np.split(parts[0][r], cut), np.split(parts[1][r], cut),
                             strict=True):
            got[int(i)] = (lv, av)
    for i, _ in rows:
        on_row(i, *got[i])


def _workers(workers: int | None) -> int:
    if workers is None:
        return available_cores()
    return max(1, int(workers))


def loss_along(model: Module, loss: Module, X: np.ndarray, y: np.ndarray,
               directions: np.ndarray, coords: np.ndarray, center: np.ndarray | None = None,
               workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at ``theta + sum_k coords[i, k] directions[k]`` for every row ``i`` of
    ``coords`` (shape (K, n_dirs)); ``theta`` defaults to the model's current weights."""
    center = flat_parameters(model) if center is None else np.asarray(center)
    directions = np.atleast_2d(directions)
    coords = np.asarray(coords, dtype=np.float64).reshape(len(coords), -1)
    if coords.shape[1] != len(directions):
        raise ValueError(f"coords of shape {coords.shape} for {len(directions)} directions")
    evaluate = _Evaluator(model, loss, X, y, np.vstack([center, directions]))
    full = np.hstack([np.ones((len(coords), 1)), coords])
    return _collect(evaluate, full, workers)


def interpolate(model: Module, loss: Module, X: np.ndarray, y: np.ndarray,
                theta_init: np.ndarray, theta_final: np.ndarray, alphas: np.ndarray,
                workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Goodfellow et al.'s 1D interpolation: loss and accuracy at
    ``theta(a) = (1 - a) theta_init + a theta_final``, exact at ``a = 0`` and ``a = 1``."""
    alphas = np.asarray(alphas, dtype=np.float64)
    evaluate = _Evaluator(model, loss, X, y, np.vstack([theta_init, theta_final]))
    return _collect(evaluate, np.column_stack([1 - alphas, alphas]), workers)


def _collect(evaluate: _Evaluator, coeffs: np.ndarray,
             workers: int | None) -> tuple[np.ndarray, np.ndarray]:
    n = _workers(workers)
    parts = n * distributed.world().size  # under MPI, a part per thread of every rank
    chunks = np.array_split(np.arange(len(coeffs)), min(parts, len(coeffs)) or 1)
    loss, acc = np.empty(len(coeffs)), np.empty(len(coeffs))

    def store(i: int, lv: np.ndarray, av: np.ndarray) -> None:
        loss[chunks[i]], acc[chunks[i]] = lv, av

    _run_rows(evaluate, ((i, coeffs[idx]) for i, idx in enumerate(chunks)), n, store)
    return loss, acc


# --- the 2D grid, saved and resumable ------------------------------------------------------------

@dataclass
class Landscape:
    """A loss surface: ``loss[i, j]`` and ``accuracy[i, j]`` at ``center + y[i] d2 + x[j] d1``.

    ``extra`` holds what the caller stored beside it (e.g. the projected trajectory and the
    explained variances of PCA directions). ``done[i]`` says whether row ``i`` is computed.
    """

    x: np.ndarray
    y: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    done: np.ndarray
    directions: np.ndarray
    center: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    _CORE = ("x", "y", "loss", "accuracy", "done", "directions", "center")

    def _repr_png_(self) -> bytes:
        """Jupyter shows a landscape as its contour plot (:func:`plot_landscape_2d`)."""
        import io

        from .landscape_plots import plot_landscape_2d
        buf = io.BytesIO()
        plot_landscape_2d(self).savefig(buf, format="png", dpi=80)
        return buf.getvalue()

    def save(self, path: str | os.PathLike) -> None:
        """Write an NPZ atomically (temporary file in the same folder, fsync, rename)."""
        save_npz(path, {k: getattr(self, k) for k in self._CORE} | self.extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Landscape:
        """Read a landscape NPZ (no pickle)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                if not isinstance(z, np.lib.npyio.NpzFile):
                    raise ValueError("a single array, not an archive")
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
                raise
            raise DataError(f"{path} is not a landscape file (not an NPZ archive of numeric "
                            "arrays); delete it to compute "
                            "the landscape again") from None
        missing = [k for k in cls._CORE if k not in arrays]
        if missing:
            raise DataError(f"{path} is not a landscape file: it lacks {missing}")
        core = {k: arrays.pop(k) for k in cls._CORE}
        nx, ny = core["x"].size, core["y"].size
        if (core["x"].ndim != 1 or core["y"].ndim != 1 or core["loss"].shape != (ny, nx)
                or core["accuracy"].shape != (ny, nx) or core["done"].shape != (ny,)):
            raise DataError(f"{path} is not a consistent landscape (grid {ny} x {nx}, loss "
                            f"{core['loss'].shape}, done {core['done'].shape}); delete it to "
                            "compute the landscape again")
        return cls(**core, extra=arrays)


def loss_surface(model: Module, loss: Module, X: np.ndarray, y: np.ndarray,
                 directions: np.ndarray, resolution: int | tuple[int, int] = 51,
                 span: Sequence[float] = (-1.0, 1.0, -1.0, 1.0),
                 center: np.ndarray | None = None, path: str | os.PathLike | None = None,
                 workers: int | None = None, extra: Mapping[str, np.ndarray] | None = None,
                 save_every: float = 1.0) -> Landscape:
    """Loss and accuracy on a ``resolution`` grid over ``span = (xmin, xmax, ymin, ymax)`` of
    the plane ``center + a d1 + b d2`` (default: the model's weights, 51 x 51 over [-1, 1]^2).

    With ``path``, the grid is saved as NPZ (at most every ``save_every`` seconds while rows
    finish, and at the end); a later call with the same path, grid and directions keeps the rows
    already computed and evaluates only the others.
    """
    nx, ny = cast("tuple[int, int]",
                  (resolution, resolution) if np.isscalar(resolution) else resolution)
    if len(span) != 4 or span[0] >= span[1] or span[2] >= span[3] or min(nx, ny) < 2:
        raise ValueError(f"span must be (xmin, xmax, ymin, ymax) with min < max and resolution "
                         f">= 2; got span={tuple(span)}, resolution={resolution}")
    directions = np.asarray(directions, dtype=np.float64)
    if directions.shape[0] != 2:
        raise ValueError(f"a loss surface needs 2 directions, got shape {directions.shape}")
    center = flat_parameters(model) if center is None else np.asarray(center)
    xs, ys = np.linspace(span[0], span[1], nx), np.linspace(span[2], span[3], ny)
    land = Landscape(xs, ys, np.full((ny, nx), np.nan), np.full((ny, nx), np.nan),
                     np.zeros(ny, dtype=bool), directions, center, dict(extra or {}))
    if path is not None and Path(path).exists():
        old = Landscape.load(path)
        same = all(np.array_equal(getattr(old, k), getattr(land, k))
                   for k in ("x", "y", "directions", "center"))
        if not same:
            raise DataError(
                f"{path} holds a landscape with another grid, centre or directions (stale: "
                "from other weights or options); delete it or write to another path"
            )
        land.loss, land.accuracy, land.done = old.loss, old.accuracy, old.done
    todo = [i for i in range(ny) if not land.done[i]]
    if not todo:
        return land
    evaluate = _Evaluator(model, loss, X, y, np.vstack([center, directions]))
    last_save = time.perf_counter()

    def store(i: int, lv: np.ndarray, av: np.ndarray) -> None:
        nonlocal last_save
        land.loss[i], land.accuracy[i], land.done[i] = lv, av, True
        if path is not None and time.perf_counter() - last_save >= save_every:
            land.save(path)
            last_save = time.perf_counter()

    rows = ((i, np.column_stack([np.ones(nx), xs, np.full(nx, ys[i])])) for i in todo)
    try:
        _run_rows(evaluate, rows, _workers(workers), store)
    finally:
        if path is not None:
            land.save(path)
    return land
