"""Where parameters live: contiguous storage, so that an optimizer step is a few array calls.

Every :class:`~gradwise.nn.Parameter` is created in place in a *chunk*: one flat array for
values and one of the same size for gradients, per dtype and device. Parameters created one
after the other (the layers of a model, in order) sit next to each other in the same chunk, so
an optimizer sees their values, and after a backward pass their gradients, as one contiguous
span and updates them with a fixed handful of array calls however many layers there are (see
:class:`gradwise.optim.Optimizer`). Nothing is ever moved afterwards: the array ``p.data`` that
a user holds stays the parameter's storage for as long as nobody assigns ``p.data`` a new
array, and any number of optimizers update it in place.

This is the only mechanism behind the flat buffers. The gradient half of a parameter's slot is
recorded on the tensor (``Tensor.grad_slot``, read only by :func:`gradwise.autograd.
take_grad_slot` and the backward pass), and the backward pass writes the parameter's first
gradient into it (later ones are added in place); ``zero_grad()`` sets ``.grad`` back to None
and the next backward pass overwrites the slot, so a gradient array held across
``zero_grad()`` sees the next gradient. A parameter whose ``.data`` is assigned an array of
another shape, dtype or device loses its gradient slot (its gradients are then fresh arrays);
:meth:`Module.to` puts the converted parameters into new contiguous storage.
"""

from __future__ import annotations

import threading
from typing import Any

from .. import backend

__all__ = ["allocate"]

#: Elements per chunk (at least; a larger parameter gets a chunk of its own size). Small
#: models share one chunk; a chunk is freed when the last parameter in it is.
CHUNK = 1 << 16

_lock = threading.Lock()
# (dtype, device, GPU id) -> [values, grads, elements used]
_current: dict[tuple[str, str, str], list[Any]] = {}


def allocate(values: Any) -> tuple[Any, Any]:
    """Copy the array ``values`` into the next free slot of parameter storage and return
    ``(data, grad)``: the slot's value array (holding ``values``) and its gradient array, both
    views of the current chunk in ``values``' shape, dtype and device."""
    xp = backend.xp_of(values)
    n = int(values.size)
    key = (str(values.dtype), backend.device_of(values), str(getattr(values, "device", "")))
    with _lock:
        chunk = _current.get(key)
        if chunk is None or chunk[2] + n > chunk[0].size:
            size = max(n, CHUNK)
            chunk = [xp.empty(size, dtype=values.dtype), xp.zeros(size, dtype=values.dtype), 0]
            _current[key] = chunk
        start = chunk[2]
        chunk[2] = start + n
    data = chunk[0][start:start + n].reshape(values.shape)
    grad = chunk[1][start:start + n].reshape(values.shape)
    xp.copyto(data, values)
    return data, grad
