"""Mini-batches: the lecture's "pick a batch of B data points" as an iterable over a data set.

One epoch visits every sample once. With ``shuffle=True`` the order is a fresh permutation drawn
from ``generator`` at the start of each epoch (Robbins and Monro 1951; Bottou 2010, "Large-scale
machine learning with stochastic gradient descent"): ``batch_size=1`` is single-point SGD,
``batch_size=None`` the full batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .. import backend

__all__ = ["DataLoader"]

Batch = tuple[np.ndarray, ...]


def as_generator(generator: int | np.random.Generator | None) -> np.random.Generator:
    """A NumPy generator from a seed, a generator (used as is) or None (gradwise's default)."""
    if generator is None:
        return backend.default_generator("cpu")
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, int | np.integer) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(f"generator must be a seed (int), a numpy Generator or None, got {generator!r}")


def as_array(a: Any, i: int) -> np.ndarray:
    """NumPy arrays (memmaps included, left unread) and GPU arrays as they are; anything else
    through ``np.asarray``."""
    if backend.device_of(a) != "cpu":
        return a
    array = a if isinstance(a, np.ndarray) else np.asarray(a)
    if array.dtype == object:
        raise TypeError(
            f"array {i} is a {type(a).__name__}, which does not convert to a numeric NumPy array"
        )
    if array.dtype.kind in "USV":
        raise TypeError(f"array {i} holds {array.dtype} values (strings), not numbers; encode "
                        "string labels as integers, e.g. np.unique(y, return_inverse=True)[1]")
    return array


def check_same_length(arrays: Sequence[np.ndarray]) -> int:
    """The common number of rows of ``arrays``; an error naming every length when they differ."""
    lengths = []
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"array {i} is a scalar (shape ()); expected one row per sample")
        lengths.append(len(a))
    if len(set(lengths)) > 1:
        detail = ", ".join(f"array {i} has {m}" for i, m in enumerate(lengths))
        raise ValueError(f"arrays must have the same number of samples (rows): {detail}")
    return lengths[0]


class DataLoader:
    """Iterate over a data set in mini-batches, yielding tuples of NumPy arrays.

    ``dataset`` is a tuple of arrays ``(X, y, ...)`` with one row per sample, a single array, or
    any other object with ``__len__`` and ``__getitem__(i)`` returning a tuple of arrays (a list
    of samples, say), whose items are stacked into batches. Arrays are read one batch at a time
    (a slice, or sorted integer indices when shuffled), so memory-mapped arrays
    (``np.load(path, mmap_mode="r")``) larger than memory work; each batch is an in-memory
    ``np.ndarray``. Without shuffling, batches of in-memory arrays are views.

    ``device="cuda"`` copies the arrays to the GPU once, here, and yields GPU arrays: each epoch
    then costs one upload of its order (an integer per sample) and no other host transfer, so a
    training step never waits on the host. The order is drawn on the CPU as without ``device``,
    so a run visits the same batches on either device. (A data set that is not a tuple of arrays
    is fetched on the CPU and each batch is copied to the GPU.)

    ``generator`` (a seed, a ``numpy.random.Generator``, or None for
    ``gradwise.backend.default_generator("cpu")``) is exposed as ``loader.generator``: saving
    ``loader.generator.bit_generator.state`` between epochs and restoring it reproduces the
    following epochs' order.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 32,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: int | np.random.Generator | None = None,
        device: str | None = None,
    ) -> None:
        if batch_size is not None and (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int | np.integer)
            or batch_size < 1
        ):
            raise ValueError(f"batch_size must be an integer >= 1 or None, got {batch_size!r}")
        if isinstance(dataset, tuple):
            if len(dataset) == 0:
                raise ValueError("dataset is an empty tuple; expected arrays such as (X, y)")
            self._arrays: tuple[np.ndarray, ...] | None = tuple(
                as_array(a, i) for i, a in enumerate(dataset)
            )
            n = check_same_length(self._arrays)
        elif isinstance(dataset, np.ndarray):
            self._arrays = (dataset,)
            n = check_same_length(self._arrays)
        elif hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__"):
            self._arrays = None
            n = len(dataset)
        else:
            raise TypeError(
                "dataset must be a tuple of arrays, an array, or an object with __len__ and "
                f"__getitem__; got {type(dataset).__name__}"
            )
        if n == 0:
            raise ValueError("dataset has no samples")
        self.device = backend.normalize_device(device)
        if self._arrays is not None and self.device != "cpu":
            self._arrays = tuple(backend.to_device(_take(a, slice(None)), self.device)
                                 for a in self._arrays)
        self.dataset = dataset
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = as_generator(generator)
        self.num_samples = n
        self.batch_size = batch_size

    @property
    def batch_size(self) -> int | None:
        """Samples per batch (None: the full batch); may be set between epochs."""
        return self._batch_size

    @batch_size.setter
    def batch_size(self, batch_size: int | None) -> None:
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
                batch_size, int | np.integer) or batch_size < 1):
            raise ValueError(f"batch_size must be an integer >= 1 or None, got {batch_size!r}")
        self._batch_size = batch_size
        n = self.num_samples
        self._size = n if batch_size is None else min(int(batch_size), n)

    def __len__(self) -> int:
        """Batches per epoch: ``floor(n / B)`` with ``drop_last``, else ``ceil(n / B)``."""
        if self.drop_last:  # fewer samples than a batch: no batch at all, as in PyTorch
            full = self._size if self.batch_size is None else int(self.batch_size)
            return self.num_samples // full
        return math.ceil(self.num_samples / self._size)

    def __iter__(self) -> Iterator[Batch]:
        """One epoch; with ``shuffle`` the permutation is drawn here, when iteration starts."""
        order = self.generator.permutation(self.num_samples) if self.shuffle else None
        if order is not None and self._arrays is not None and self.device != "cpu":
            return self._device_batches(self._arrays, order)
        return self._batches(order)

    def _bounds(self) -> Iterator[tuple[int, int]]:
        size = self._size
        for b in range(len(self)):
            yield b * size, min((b + 1) * size, self.num_samples)

    def _batches(self, order: np.ndarray | None) -> Iterator[Batch]:
        for start, stop in self._bounds():
            index = slice(start, stop) if order is None else np.sort(order[start:stop])
            batch = self._fetch(index)
            if self.device != "cpu" and self._arrays is None:
                batch = tuple(backend.to_device(a, self.device) for a in batch)
            yield batch

    def _device_batches(self, arrays: tuple[Any, ...], order: np.ndarray) -> Iterator[Batch]:
        """The same batches as :meth:`_batches`, gathered on the GPU from one upload of the
        epoch's order (each batch's indices sorted, as on the CPU)."""
        for start, stop in self._bounds():
            order[start:stop].sort()
        index = backend.to_device(order, self.device)
        for start, stop in self._bounds():
            rows = index[start:stop]
            yield tuple(a[rows] for a in arrays)

    def _fetch(self, index: slice | np.ndarray) -> Batch:
        if self._arrays is not None:
            return tuple(_take(a, index) for a in self._arrays)
        rows = range(index.start, index.stop) if isinstance(index, slice) else index.tolist()
        items = []
        for i in rows:
            item = self.dataset[i]
            items.append(item if isinstance(item, tuple) else (item,))
        width = len(items[0])
        for i, item in zip(rows, items, strict=True):
            if len(item) != width:
                raise ValueError(
                    f"dataset[{i}] has {len(item)} fields but dataset[{rows[0]}] has {width}"
                )
        return tuple(np.stack([np.asarray(item[k]) for item in items]) for k in range(width))


def _take(array: np.ndarray, index: slice | np.ndarray) -> np.ndarray:
    """Rows ``index`` of ``array`` as an in-memory array (a memmap slice is copied out; GPU
    arrays stay on the GPU)."""
    batch = array[index]
    if isinstance(batch, np.memmap):
        return np.array(batch)
    if backend.device_of(batch) != "cpu":
        return batch
    return np.asarray(batch)
