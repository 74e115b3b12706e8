"""MNIST subset: gradwise against PyTorch with the same network, optimizer, batches and epochs.

Both train examples/mnist.toml's network (784-256-256-10 ReLU, dropout after each hidden layer,
Adam lr 1e-3, batch 64, 30 epochs) on the same training split (gradwise's ``prepare_data``) from
the same initial weights (gradwise's He-uniform initialization, copied into ``torch.nn.Linear``),
and report the test accuracy of the final weights on the 1,000 t10k digits. Shuffling and dropout
masks come from each framework's own generator.

    python benchmarks/mnist_torch_compare.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gradwise import backend
from gradwise.training.config import load_config
from gradwise.training.run import build_model, prepare_data, train

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "mnist.toml"


def torch_run(config: dict, splits, seed: int) -> float:
    """Train the torch twin of the gradwise model and return its test accuracy."""
    backend.manual_seed(seed)
    gw_model = build_model(config, splits.X_train.shape[1], splits.n_outputs)
    p = config["model"]["dropout"]
    layers: list[torch.nn.Module] = []
    dense = [m for m in gw_model if hasattr(m, "weight")]
    for i, d in enumerate(dense):
        lin = torch.nn.Linear(d.in_features, d.out_features)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(d.weight.numpy().T.copy()))
            lin.bias.copy_(torch.from_numpy(d.bias.numpy().copy()))
        layers.append(lin)
        if i < len(dense) - 1:
            layers.append(torch.nn.ReLU())
            if p > 0:
                layers.append(torch.nn.Dropout(p))
    model = torch.nn.Sequential(*layers)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=config["optimizer"]["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()
    X = torch.from_numpy(splits.X_train)
    y = torch.from_numpy(splits.y_train)
    bs = config["training"]["batch_size"]
    gen = torch.Generator().manual_seed(seed)
    for _ in range(config["training"]["epochs"]):
        model.train()
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), bs):
            idx = order[start:start + bs]
            opt.zero_grad()
            loss_fn(model(X[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(splits.X_test)).argmax(1).numpy()
    return float(np.mean(pred == splits.y_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--dropout", type=float, nargs="+", default=[0.5, 0.0])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for p in args.dropout:
        results: dict[str, list[float]] = {"gradwise": [], "torch": []}
        for seed in args.seeds:
            config = load_config(CONFIG, [f"model.dropout={p}", f"training.seed={seed}"])
            splits = prepare_data(config)
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as out:
                _, summary = train(config, out=out, verbose=0)
            t1 = time.perf_counter()
            results["gradwise"].append(summary["saved_model"]["test"]["accuracy"])
            results["torch"].append(torch_run(config, splits, seed))
            t2 = time.perf_counter()
            print(f"dropout {p} seed {seed}: gradwise {results['gradwise'][-1]:.4f} "
                  f"({t1 - t0:.0f} s incl. run folder), torch {results['torch'][-1]:.4f} "
                  f"({t2 - t1:.0f} s)", flush=True)
        means = {k: statistics.mean(v) for k, v in results.items()}
        print(f"dropout {p}: mean test accuracy over seeds {args.seeds}: gradwise "
              f"{means['gradwise']:.4f}, torch {means['torch']:.4f}, difference "
              f"{100 * (means['gradwise'] - means['torch']):+.2f} points")


if __name__ == "__main__":
    main()
