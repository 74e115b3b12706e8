"""Train the float64 spiral with dropout, validation and early stopping; run alone or under
``mpiexec -n N``. Rank 0 writes the final weights to OUT (NPZ); every rank writes its own to
OUT.rankR.npz, so a test can check that all ranks hold the same model.

    python tests/mpi/train_spiral.py OUT [--epochs 20] [--checkpoint CK [--keep-half COPY]]
                                         [--resume CK] [--stop-at EPOCH STEP]
                                         [--compile auto|on|off]

``--keep-half COPY`` copies the checkpoint written after half the epochs to COPY.
``--stop-at EPOCH STEP`` stops training after that step, from a batch hook of the last rank only.
``--compile`` is fit's ``compile`` argument (auto: its default).
"""

from __future__ import annotations

import argparse
import shutil
from typing import Any

import numpy as np

import gradwise as gw
from gradwise import distributed, nn, optim
from gradwise.data import get_toy
from gradwise.training.callbacks import Callback, EarlyStopping
from gradwise.training.loop import fit


class KeepCheckpoint(Callback):
    """Copies the checkpoint written at the end of epoch ``epoch`` to ``dst`` (rank 0; nothing
    when ``dst`` is None, so that every run has the same callbacks and resumes)."""

    def __init__(self, epoch: int, src: str | None, dst: str | None) -> None:
        super().__init__()
        self.epoch, self.src, self.dst = epoch, src, dst

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        if epoch == self.epoch and self.src and self.dst and distributed.is_root():
            shutil.copyfile(self.src, self.dst)


class StopOnLastRank(Callback):
    """Sets ``stop_training`` after one step, on the last rank alone."""

    def __init__(self, at: tuple[int, int]) -> None:
        super().__init__()
        self.at, self.epoch = at, -1

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        w = distributed.world()
        if (self.epoch, batch) == self.at and w.rank == w.size - 1:
            self.model.stop_training = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--checkpoint")
    parser.add_argument("--resume")
    parser.add_argument("--keep-half")
    parser.add_argument("--stop-at", nargs=2, type=int)
    parser.add_argument("--compile", choices=("auto", "on", "off"), default="auto")
    args = parser.parse_args()
    gw.set_default_dtype("float64")
    gw.manual_seed(3)
    X, y = get_toy("spiral", n=330, noise=0.05, seed=1)
    # 258 training rows in batches of 32: the last batch has 2 rows, so under 4 ranks two of
    # them have an empty shard of it
    X_train, y_train, X_val, y_val = X[:258], y[:258], X[258:], y[258:]
    model = nn.Sequential(nn.Dense(2, 24, activation="tanh"), nn.Dropout(0.2),
                          nn.Dense(24, 24, activation="relu"), nn.Dense(24, 1))
    opt = optim.Adam(model.parameters(), lr=0.01)
    keep: list[Callback] = [KeepCheckpoint(args.epochs // 2, args.checkpoint, args.keep_half)]
    if args.stop_at:
        keep.append(StopOnLastRank((args.stop_at[0], args.stop_at[1])))
    made: list[Any] = []
    if args.compile == "on":  # count the replays of fit's compiled step (written below)
        from gradwise import capture
        from gradwise.training import loop

        def spy(fn: Any, **kw: Any) -> Any:
            made.append(capture.compile(fn, **kw))
            return made[-1]

        loop._compile = spy  # type: ignore[assignment]
    history = fit(
        model, "bce_with_logits", opt, (X_train, y_train), epochs=args.epochs, batch_size=32,
        validation_data=(X_val, y_val), metrics=["accuracy", "auc", "f1"], verbose=0, seed=7,
        callbacks=[EarlyStopping(monitor="val_loss", patience=50), *keep],
        checkpoint_path=args.checkpoint, resume_from=args.resume,
        compile={"auto": None, "on": True, "off": False}[args.compile])
    weights = {k: np.asarray(p.data) for k, p in model.named_parameters()}
    w = distributed.world()
    np.savez(f"{args.out}.rank{w.rank}.npz", **weights)
    if made:
        with open(f"{args.out}.replays.rank{w.rank}", "w") as f:
            f.write(str(made[0].replays))
    if w.rank == 0:
        np.savez(args.out, **weights)
        if not args.resume:  # whole-pass metrics are gathered over the ranks' shards
            np.savez(f"{args.out}.history.npz",
                     **{k: np.asarray(v) for k, v in history.history.items()})


if __name__ == "__main__":
    main()
