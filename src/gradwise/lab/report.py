"""``gradwise report RUN_DIR``: one self-contained HTML page for a run, every figure embedded
as base64 data, so the page can be mailed or archived alone."""

from __future__ import annotations

import base64
import html
import io
import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..io import write_atomic

__all__ = ["write_report"]

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222;
       line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 3px solid #1a9641; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0 1em; }
td, th { border: 1px solid #ccc; padding: .25em .7em; text-align: left; }
th { background: #f2f2f2; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: .92em; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
"""

_LANDSCAPE = [
    ("interpolation.png", "Loss on the straight line from the initial weights (0) to the "
                          "trained weights (1), Goodfellow et al. 2015."),
    ("random_1d.png", "Loss along one filter-normalized random direction through the trained "
                      "weights (Li et al. 2018)."),
    ("random_2d_filled.png", "Loss and accuracy on the plane of two filter-normalized random "
                             "directions; the trained weights at the centre."),
    ("random_2d_contour.png", "The same plane as contour lines."),
    ("random_2d_surface.png", "The same plane as a surface (log10 of the loss)."),
    ("pca_2d_filled.png", "Loss on the plane of the trajectory's two principal directions, with "
                          "the path training took from the initial weights."),
    ("pca_2d_contour.png", "The PCA plane as contour lines."),
    ("pca_2d_surface.png", "The PCA plane as a surface (log10 of the loss), with the "
                           "projected training path on it."),
]


def _embed(image: bytes, mime: str, alt: str, caption: str) -> str:
    data = base64.b64encode(image).decode("ascii")
    return (f'<figure><img src="data:{mime};base64,{data}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _own_file(folder: Path, path: Path) -> bytes | None:
    """The bytes of ``path`` when it is a regular file inside the run folder: not a symbolic
    link (nor under a linked folder), nothing outside ``folder``; else None. A report is meant
    to be mailed: a link planted in a run folder (``loss.png -> ~/.ssh/id_rsa``) must not put
    the file it points to into it."""
    try:
        if path.is_symlink() or not path.resolve().is_relative_to(folder.resolve()):
            return None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read()


def _img(path: Path, caption: str, folder: Path | None = None) -> str:
    mime = "image/gif" if path.suffix == ".gif" else "image/png"
    data = _own_file(folder if folder is not None else path.parent, path)
    if data is None:
        return (f"<p class=\"skipped\">{html.escape(path.name)} left out: not a regular file "
                "inside the run folder.</p>")
    return _embed(data, mime, path.name, caption)


def _fig(fig: Any, caption: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return _embed(buf.getvalue(), "image/png", "figure", caption)


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    return f"<table>{body}</table>"


def _fmt(v: Any) -> str:
    """A value for the page, HTML-escaped (a crafted summary.json must not inject markup)."""
    return html.escape(f"{v:.4g}" if isinstance(v, float) else str(v))


def _summary_section(run: Any) -> str:
    cfg, s = run.config, run.summary
    data, model, opt = cfg["data"], cfg["model"], cfg["optimizer"]
    n_val = 0 if run.X_val is None else len(run.X_val)
    rows = [
        ("data", f"{data['source']} {data.get('name', '')}: {len(run.X_train)} training, "
                 f"{n_val} validation samples, {run.X_train.shape[1]} features"),
        ("model", f"hidden layers {model['hidden']}, {model['activation']}, dropout "
                  f"{model['dropout']}, {run.model.num_parameters()} parameters"),
        ("loss", type(run.loss).__name__),
        ("optimizer", ", ".join(f"{k} = {v}" for k, v in opt.items())),
        ("batch size", cfg["training"]["batch_size"]),
    ]
    if s:  # read with .get: a damaged summary.json shows '?' where a field is missing
        rows += [
            ("epochs run", f"{s.get('epochs_run', '?')} of {s.get('epochs_max', '?')}"
                           + (" (stopped early)" if s.get("stopped_early") else "")),
            ("best epoch", f"{s.get('best_epoch')} (monitor {s.get('monitor', '?')})"
                           + (", weights restored" if s.get("restored_best_weights") else "")),
            ("wall time", f"{_fmt(s.get('wall_time_s', float('nan')))} s"),
        ]
        if s.get("status", "completed") != "completed":
            rows.insert(len(rows) - 3, ("status", s.get("status")))
        if s.get("best_epoch") is None:
            rows = [r for r in rows if r[0] != "best epoch"]
    out = "<h2>Summary</h2>" + _table(rows)
    saved = s.get("saved_model", {})
    if not (isinstance(saved, dict) and all(isinstance(v, dict) for v in saved.values())):
        saved = {}
        out += "<p>summary.json's saved_model is not a table of splits: left out.</p>"
    if saved:
        metrics = sorted({k for logs in saved.values() for k in logs})
        head = "".join(f"<th>{html.escape(str(m))}</th>" for m in metrics)
        body = "".join(
            f"<tr><th>{html.escape(str(split))}</th>"
            + "".join(f"<td>{_fmt(logs.get(m, ''))}</td>" for m in metrics) + "</tr>"
            for split, logs in saved.items())
        out += ("<p>The saved model (<code>model.safetensors</code>) on each split:</p>"
                f"<table><tr><th>split</th>{head}</tr>{body}</table>")
    return out


def _curves_section(run: Any, folder: Path) -> str:
    if (folder / "loss.png").exists():
        img = _img(folder / "loss.png", "Training (solid) and validation (dashed) curves.",
                   folder)
    else:
        from .curves import plot_history

        es = None
        esc = run.config["training"].get("early_stopping")
        if (esc and esc.get("enabled", True) and run.summary
                and run.summary.get("status", "completed") == "completed"
                and isinstance(run.summary.get("best_epoch"), int)):
            es = SimpleNamespace(best_epoch=run.summary["best_epoch"] - 1,
                                 patience=esc["patience"], monitor=run.summary["monitor"],
                                 restore_best_weights=run.summary["restored_best_weights"])
        img = _fig(plot_history(run.history, es), "Training and validation curves.")
    return "<h2>Training curves</h2>" + img


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write ``RUN_DIR/report.html`` (or ``out``): the run's summary and saved-model metrics,
    training curves, decision boundary, and, when present in the folder, the loss landscape
    (``gradwise landscape``), the optimizer race (``gradwise race RUN_DIR``), the learning-rate
    range test (``gradwise lr-find RUN_DIR``), and the resolved config."""
    from ..training.run import load_run

    folder = Path(run_dir)
    run = load_run(folder)
    parts = [f"<h1>gradwise run report: {html.escape(folder.resolve().name)}</h1>",
             _summary_section(run), _curves_section(run, folder)]
    if (folder / "boundary.png").exists():
        parts.append("<h2>Decision boundary</h2>" + _img(
            folder / "boundary.png", "P(class 1 | x) over the plane: red 0, white 0.5, green 1; "
                                     "training points as circles, validation as triangles.",
            folder))
    land = folder / "landscape"
    if land.is_dir():
        figs = [_img(land / name, cap, folder) for name, cap in _LANDSCAPE
                if (land / name).exists()]
        timing = ""
        raw = _own_file(folder, land / "timings.json")
        try:
            t = json.loads(raw) if raw is not None else {}
        except ValueError:
            t = None
        if isinstance(t, dict) and t:
            timing = "<p>Evaluation time: " + ", ".join(
                f"{html.escape(str(k))} {_fmt(v)} s" for k, v in t.items()) + ".</p>"
        elif t is not None or raw is not None:
            timing = "<p>landscape/timings.json left out: not a JSON table.</p>"
        parts.append("<h2>Loss landscape</h2>" + timing + "".join(figs))
    race = folder / "race"
    if race.is_dir():
        imgs = [_img(p, f"Optimizer race on the {p.stem.removeprefix('race_')} surface.",
                     folder) for p in sorted(race.glob("race_*.png"))]
        imgs += [_img(p, f"Animation: {p.stem.removeprefix('race_')}.", folder)
                 for p in sorted(race.glob("race_*.gif"))]
        parts.append("<h2>Optimizer race</h2>" + "".join(imgs))
    if (folder / "lr_find.png").exists():
        parts.append("<h2>Learning-rate range test</h2>" + _img(
            folder / "lr_find.png", "Loss against a geometrically growing learning rate (Smith "
                                    "2017); the suggestion is where the loss falls fastest.",
            folder))
    config_text = _own_file(folder, folder / "config.toml")
    if config_text is not None:
        parts.append("<h2>Config</h2><pre>"
                     + html.escape(config_text.decode("utf-8", "replace")) + "</pre>")
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>gradwise report: {html.escape(folder.name)}</title>"
            f"<style>{_CSS}</style></head><body>" + "\n".join(parts) + "</body></html>\n")
    path = Path(out) if out is not None else folder / "report.html"
    write_atomic(path, page.encode("utf-8"))
    return path
