"""A NumPy-backed stand-in for CuPy, so that the GPU code paths run (and are checked) on
machines without a GPU.

It mimics what matters to gradwise about CuPy:

- GPU arrays are their own type (``fake_cupy.ndarray``); an op that mixes a GPU array with a
  NumPy array raises ``TypeError``, as CuPy does, so a forgotten host array in a GPU step fails;
- reductions return 0-d GPU arrays, not Python scalars;
- every way of reading a GPU value on the host (``.item()``, ``float()``, ``int()``, ``bool()``,
  ``.tolist()``, ``.get()``, ``cupy.asnumpy``) is a *host sync* and is counted in
  :data:`SYNCS`, and every host-to-GPU copy of a NumPy array is counted in :data:`UPLOADS`.
  On a real GPU each of those makes the host wait for the GPU, so the tests assert that a
  training step does none.

The arithmetic is NumPy's, so results equal the CPU's exactly.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

SYNCS = 0
UPLOADS = 0
UPLOADED_DTYPES: list[np.dtype] = []


def reset_counts() -> None:
    global SYNCS, UPLOADS
    SYNCS = UPLOADS = 0
    UPLOADED_DTYPES.clear()


def _sync() -> None:
    global SYNCS
    SYNCS += 1


class ndarray(np.ndarray):  # noqa: N801 - CuPy's name
    """A "GPU" array: NumPy storage, CuPy's rules."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, out: Any = None,
                        **kwargs: Any) -> Any:
        _check_no_host_arrays(inputs + (out or ()))
        args = [_host(a) for a in inputs]
        if out is not None:
            kwargs["out"] = tuple(_host(o) for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _device(result)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        _check_no_host_arrays(_leaves(args) + _leaves(tuple(kwargs.values())))
        return _device(func(*_unwrap(args), **_unwrap(kwargs)))

    # every read of a value on the host waits for the GPU
    def item(self, *args: Any) -> Any:
        _sync()
        return np.ndarray.item(self.view(np.ndarray), *args)

    def tolist(self) -> Any:
        _sync()
        return self.view(np.ndarray).tolist()

    def get(self) -> np.ndarray:
        _sync()
        return np.array(self.view(np.ndarray))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __repr__(self) -> str:
        return f"fake_cupy.{np.ndarray.__repr__(self.view(np.ndarray))}"

    def __getitem__(self, key: Any) -> Any:
        return _device(self.view(np.ndarray)[_wrap_around(_unwrap(key), self.shape)])

    def __setitem__(self, key: Any, value: Any) -> None:
        _check_no_host_arrays((value,))
        self.view(np.ndarray)[_wrap_around(_unwrap(key), self.shape)] = _host(value)


def _wrap_around(key: Any, shape: tuple[int, ...]) -> Any:
    """CuPy wraps out-of-bounds integer-array indices around where NumPy raises."""
    parts = key if isinstance(key, tuple) else (key,)
    if any(p is None or p is Ellipsis for p in parts):
        return key
    wrapped = tuple(p % shape[axis] if isinstance(p, np.ndarray) and p.dtype.kind in "iu"
                    and shape[axis] else p for axis, p in enumerate(parts))
    return wrapped if isinstance(key, tuple) else wrapped[0]


def take_along_axis(a: Any, indices: Any, axis: int) -> Any:
    """``cupy.take_along_axis``: out-of-bounds indices wrap around."""
    return _device(np.take_along_axis(_host(a), _host(indices) % a.shape[axis], axis=axis))


def _host(a: Any) -> Any:
    return a.view(np.ndarray) if isinstance(a, ndarray) else a


def _device(a: Any) -> Any:
    """NumPy results become GPU arrays; NumPy scalars become 0-d GPU arrays, as in CuPy."""
    if isinstance(a, np.ndarray):
        return a.view(ndarray)
    if isinstance(a, np.generic):
        return np.asarray(a).view(ndarray)
    if isinstance(a, tuple):
        return tuple(_device(x) for x in a)
    if isinstance(a, list):
        return [_device(x) for x in a]
    return a


def _unwrap(a: Any) -> Any:
    if isinstance(a, ndarray):
        return a.view(np.ndarray)
    if isinstance(a, tuple):
        return tuple(_unwrap(x) for x in a)
    if isinstance(a, list):
        return [_unwrap(x) for x in a]
    if isinstance(a, dict):
        return {k: _unwrap(v) for k, v in a.items()}
    return a


def _leaves(items: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for x in items:
        if isinstance(x, list | tuple):
            out.extend(_leaves(tuple(x)))
        else:
            out.append(x)
    return tuple(out)


def _check_no_host_arrays(items: tuple[Any, ...]) -> None:
    for a in items:
        if isinstance(a, np.ndarray) and not isinstance(a, ndarray):
            raise TypeError(
                f"fake CuPy: a NumPy array of shape {a.shape} met a GPU array; move it with "
                "cupy.asarray first (real CuPy refuses this too)"
            )


def asarray(a: Any, dtype: Any = None) -> ndarray:
    """Host data to the GPU (an upload), or a GPU array as it is (cast when ``dtype`` says)."""
    global UPLOADS
    if isinstance(a, ndarray):
        return a if dtype is None else a.astype(dtype, copy=False)
    if isinstance(a, np.ndarray) and a.size > 1:
        UPLOADS += 1
        UPLOADED_DTYPES.append(a.dtype)
    return np.array(a, dtype=dtype).view(ndarray)


def array(a: Any, dtype: Any = None, copy: bool = True) -> ndarray:
    result = asarray(a, dtype)
    return result.copy() if copy and result is a else result


def asnumpy(a: Any) -> np.ndarray:
    """The GPU array's values on the host: a host sync."""
    if isinstance(a, ndarray):
        _sync()
        return np.array(a.view(np.ndarray))
    return np.asarray(a)


class _Module(types.ModuleType):
    """``cupy.<name>``: NumPy's function of that name, taking and returning GPU arrays."""

    _np: Any = np

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._np, name)
        if isinstance(target, np.ufunc) or not callable(target) or isinstance(target, type):
            return target
        def call(*args: Any, **kwargs: Any) -> Any:
            _check_no_host_arrays(_leaves(args) + _leaves(tuple(kwargs.values())))
            return _device(target(*_unwrap(args), **_unwrap(kwargs)))

        call.__name__ = name
        return call


class _Generator:
    """``cupy.random.Generator``: NumPy's PCG64 draws, returned on the GPU."""

    def __init__(self, seed: Any = None) -> None:
        self._gen = np.random.default_rng(seed)

    def random(self, size: Any = None, dtype: Any = np.float64) -> ndarray:
        return _device(self._gen.random(size, dtype=dtype))

    def standard_normal(self, size: Any = None, dtype: Any = np.float64) -> ndarray:
        return _device(self._gen.standard_normal(size, dtype=dtype))

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None,
                dtype: Any = np.float64) -> ndarray:
        return _device(self._gen.uniform(low, high, size).astype(dtype))


class _Device:
    def __init__(self, index: int = 0) -> None:
        self.id = index

    def use(self) -> None:
        if self.id != 0:
            raise RuntimeError(f"fake CuPy has one GPU, not device {self.id}")

    def synchronize(self) -> None:
        _sync()


def make_module() -> types.ModuleType:
    """A fresh module object that quacks like ``import cupy``."""
    mod = _Module("fake_cupy")
    mod.ndarray = ndarray
    mod.asarray = asarray
    mod.array = array
    mod.asnumpy = asnumpy
    mod.take_along_axis = take_along_axis
    mod.__version__ = "fake"
    mod.__file__ = __file__
    linalg = _Module("fake_cupy.linalg")
    linalg._np = np.linalg
    mod.linalg = linalg
    mod.random = types.SimpleNamespace(default_rng=_Generator, Generator=_Generator)
    mod.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
        Device=_Device,
    )
    return mod
