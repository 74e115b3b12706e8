"""The trajectory of a run: the flattened parameters before training and after epochs of
the run, streamed to disk during training (one ``.npy`` file per snapshot in ``trajectory/``)
and written at the end as ``trajectory.safetensors`` (``gradwise landscape`` plots the loss
surface along it). ``training.trajectory`` bounds its rows (0: no trajectory); a trajectory of
more than :data:`WARN_BYTES` is announced with one line before training."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..io import write_atomic
from ..nn.utils import flat_parameters
from .callbacks import Callback
from .checkpoint import write_safetensors_rows

__all__ = ["MAX_SNAPSHOTS", "WARN_BYTES", "Trajectory", "size_warning"]

MAX_SNAPSHOTS = 101  # most rows trajectory.safetensors keeps by default, spread over the run
WARN_BYTES = 100 * 2**20  # a trajectory above this size is announced before training


def size_warning(n_params: int, epochs: int, rows: int) -> str | None:
    """One line when a trajectory of at most ``rows`` rows of ``n_params`` float32 numbers
    over ``epochs`` epochs would exceed :data:`WARN_BYTES`, else None."""
    row = 4 * n_params
    total = row * min(rows, epochs + 1)
    if rows == 0 or total <= WARN_BYTES:
        return None
    return (f"the trajectory will take up to {total / 1e6:,.0f} MB ({min(rows, epochs + 1)} "
            f"rows of {row / 1e6:.1f} MB, one per kept epoch) in trajectory.safetensors and "
            "while training in trajectory/; bound it with --set training.trajectory=N (rows; "
            "0: none)")


class Trajectory(Callback):
    """The flattened parameters before training (row 0) and after epochs of the run, streamed
    to ``folder`` as one ``.npy`` file per snapshot and bounded to ``max_snapshots`` rows.

    Epoch ``e`` (0 = the initial weights) is kept while it is a multiple of the stride ``s``,
    the smallest power of two with ``floor(L / s) + 1 <= max_snapshots - 1`` for the latest
    epoch ``L``; the latest epoch is always kept. So a run of any length keeps at most
    ``max_snapshots`` evenly spread rows, the first and the last among them, and only one
    snapshot is ever in memory. Pruning happens at the start of an epoch (after the previous
    epoch's checkpoint is written), so the files on disk always cover the checkpoint's epoch
    and a resumed run keeps exactly the rows an uninterrupted one keeps.
    """

    def __init__(self, folder: Path, max_snapshots: int = MAX_SNAPSHOTS,
                 resume_epoch: int | None = None) -> None:
        super().__init__()
        self.folder, self.max_snapshots, self.resume_epoch = folder, max_snapshots, resume_epoch

    def stride(self, latest: int) -> int:
        s = 1
        while latest // s + 1 > self.max_snapshots - 1:
            s *= 2
        return s

    def epochs(self) -> list[int]:
        """The epochs whose snapshots are on disk, in order."""
        if not self.folder.is_dir():
            return []
        return sorted(int(p.stem) for p in self.folder.glob("[0-9]*.npy") if p.stem.isdigit())

    def prune(self, latest: int) -> None:
        """Delete the snapshots after ``latest`` and those off the stride of ``latest``."""
        s = self.stride(latest)
        for e in self.epochs():
            if e > latest or (e % s and e != latest):
                (self.folder / f"{e:06d}.npy").unlink(missing_ok=True)

    def _write(self, epoch: int) -> None:
        buf = io.BytesIO()
        np.save(buf, flat_parameters(self.model).astype(np.float32), allow_pickle=False)
        write_atomic(self.folder / f"{epoch:06d}.npy", buf.getvalue())

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.resume_epoch is None:
            if self.folder.exists():
                shutil.rmtree(self.folder)
            self._write(0)
        else:
            self.prune(self.resume_epoch)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.prune(epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._write(epoch + 1)

    def assemble(self, path: Path, upto: int, named: list[tuple[str, Any]]) -> None:
        """Write ``trajectory.safetensors`` from the snapshots of epochs ``<= upto``, streaming
        them one at a time from disk."""
        self.prune(upto)
        epochs = self.epochs()
        if not epochs:  # none on disk: an earlier attempt wrote the file and removed them
            return
        def rows() -> Iterator[np.ndarray]:
            for e in epochs:
                yield np.load(self.folder / f"{e:06d}.npy", allow_pickle=False)

        width = sum(int(np.prod(p.shape)) for _, p in named)
        write_safetensors_rows(path, "trajectory", rows, (len(epochs), width),
                               {"param_names": json.dumps([n for n, _ in named]),
                                "param_shapes": json.dumps([list(p.shape) for _, p in named]),
                                "epochs": json.dumps(epochs)})
