"""Every notebook in examples/notebooks runs top to bottom in a real Jupyter kernel (nbclient +
ipykernel) without an error, and the notebooks are stored without outputs.

Without nbclient/ipykernel the execution tests skip, unless GRADWISE_REQUIRE_NOTEBOOKS=1 (set by
.ci/run), where they fail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import gates

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))


LECTURE = ["01_perceptron", "02_activations", "03_spiral_fit", "04_will_i_pass",
           "05_gradient_descent", "06_backpropagation", "07_learning_rates", "08_optimizers",
           "09_minibatches", "10_overfitting", "11_loss_landscape"]
"""One notebook per section of the lecture, in its order."""


def _book(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_lecture_notebooks_are_there_and_stored_without_outputs():
    assert [p.stem for p in NOTEBOOKS] == LECTURE
    for path in NOTEBOOKS:
        for cell in _book(path)["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_each_notebook_installs_gradwise_first_and_ends_with_try_this():
    """The first code cell (one text for all) installs gradwise with the notebook extra only
    where it does not import (Colab); the last cells are one or two "try this" cells."""
    firsts = set()
    for path in NOTEBOOKS:
        cells = _book(path)["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        firsts.add(_source(code[0]))
        marks = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                 and _source(c).startswith("## Try this")]
        assert marks, f"{path.name} has no 'Try this' section"
        tail = cells[marks[-1] + 1:]
        assert 1 <= len(tail) <= 2 and all(c["cell_type"] == "code" for c in tail), path.name
    assert len(firsts) == 1
    (install,) = firsts
    assert 'if importlib.util.find_spec("gradwise") is None:' in install
    assert '"pip", "install"' in install and "gradwise[notebook]" in install
    assert install.index("find_spec") < install.index("RuntimeError") < install.index("pip")


def test_the_readme_links_every_notebook():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Notebooks", 1)[1].split("\n## ", 1)[0]
    for path in NOTEBOOKS:
        assert f"](examples/notebooks/{path.name})" in section, path.name
    assert "colab.research.google.com" in section


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """One Jupyter kernel for the notebooks of this module (each starts with ``%reset -f``, so
    none sees another's variables or imports): starting a kernel per notebook costs seconds."""
    gates.notebooks()
    from jupyter_client.manager import KernelManager
    env = dict(os.environ)
    # the kernel imports this checkout's gradwise, and draws headless
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(tmp_path_factory.mktemp("notebooks")))
    yield km
    km.shutdown_kernel(now=True)


def _drawing_names() -> set[str]:
    """The lab's functions that return a figure or a GIF (their return annotation says so),
    LivePlot, and a figure's ``show``: a cell that calls one draws, and must show a picture."""
    import inspect

    import gradwise.lab as lab
    names = {"LivePlot"}
    for name in lab.__all__:
        value = getattr(lab, name)
        if callable(value) and not isinstance(value, type):
            ret = inspect.signature(value).return_annotation
            if str(getattr(ret, "__name__", ret)) in ("LabFigure", "LabGif"):
                names.add(name)
    return names


def _draws(source: str, names: set[str]) -> bool:
    """Whether ``source`` calls a drawing function of the lab (``gw.lab.name(`` or a bare
    ``name(`` imported from it, not ``gw.data.will_i_pass(``) or a figure's ``.show(``."""
    import re
    return any(re.search(rf"(?:\blab\.|(?<![\w.])){name}\(", source) for name in names) \
        or re.search(r"\.show\(", source) is not None


TEXT_REPRS = ("<LabFigure", "<Figure size", "<LabGif", "<matplotlib.figure.Figure")


def _pictures(path: Path, book, folder: Path, names: set[str]) -> int:
    """Check every cell's outputs as a learner sees them, write each picture to ``folder``
    and return how many the notebook shows."""
    import base64
    count = 0
    for i, cell in enumerate(book.cells):
        if cell.cell_type != "code":
            continue
        pictures = []
        for out in cell.outputs:
            data = out.get("data", {})
            for mime, ext in (("image/png", "png"), ("image/gif", "gif")):
                if mime in data:
                    pictures.append((ext, base64.b64decode(data[mime])))
            text = data.get("text/plain", "") if isinstance(data.get("text/plain"), str) \
                else "".join(data.get("text/plain", []))
            if out.get("output_type") == "stream":
                text = out.get("text", "")
            assert not (text.lstrip().startswith(TEXT_REPRS) and not {"image/png", "image/gif"}
                        & set(data)), f"{path.name} cell {i}: a figure shown as text: {text[:80]}"
        if _draws(cell.source, names):
            assert pictures, f"{path.name} cell {i} draws but shows no picture:\n{cell.source}"
        for k, (ext, raw) in enumerate(pictures):
            (folder / f"{path.stem}_cell{i:02d}_{k}.{ext}").write_bytes(raw)
        count += len(pictures)
    return count


def _kernel_cpu_seconds(kernel) -> float:
    """CPU time (user + system) the kernel process has used: less sensitive than the wall
    clock to what else runs on a shared machine (NaN where psutil, an ipykernel dependency,
    cannot read it)."""
    try:
        import psutil
        times = psutil.Process(kernel.provisioner.process.pid).cpu_times()
        return float(times.user + times.system)
    except Exception:  # noqa: BLE001 - a measurement only
        return float("nan")


@pytest.fixture(scope="module")
def picture_folder(tmp_path_factory) -> Path:
    """Where the executed notebooks' pictures go, to be looked at: $GRADWISE_NOTEBOOK_IMAGES
    if set (CI can keep it), else pytest's temporary folder."""
    chosen = os.environ.get("GRADWISE_NOTEBOOK_IMAGES")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("notebook-pictures")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_a_jupyter_kernel_and_shows_its_pictures(path, kernel, picture_folder):
    """Runs the notebook as a learner would (its first cell, the Colab install, is a no-op
    where gradwise imports); every cell that draws shows an image (PNG or GIF), no output is
    a figure's bare text; the pictures are written to ``picture_folder`` with a line in its
    ``summary.tsv`` (notebook, wall seconds, the kernel's CPU seconds, pictures)."""
    import time

    import nbclient
    import nbformat
    book = nbformat.read(str(path), as_version=4)
    first = next(i for i, c in enumerate(book.cells) if c.cell_type == "code")
    # the install cell must not run pip where gradwise imports: pip fails the run if it does
    book.cells.insert(first + 1, nbformat.v4.new_code_cell("subprocess.check_call = _check_call"))
    book.cells.insert(first, nbformat.v4.new_code_cell(
        "import subprocess\n_check_call = subprocess.check_call\n"
        "def _no_pip(*args, **kwargs):\n    raise AssertionError(f'the install cell ran {args}')\n"
        "subprocess.check_call = _no_pip"))
    book.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))
    client = nbclient.NotebookClient(book, km=kernel, timeout=120)
    cpu = _kernel_cpu_seconds(kernel)
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    seconds = time.perf_counter() - start
    cpu = _kernel_cpu_seconds(kernel) - cpu
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    count = _pictures(path, book, picture_folder, _drawing_names())
    assert count >= 1, f"{path.name} shows no picture"
    with open(picture_folder / "summary.tsv", "a", encoding="utf-8") as f:
        f.write(f"{path.stem}\t{seconds:.1f}\t{cpu:.1f}\t{count}\n")
    if path.stem == "03_spiral_fit":
        html = [o for o in outputs if "text/html" in o.get("data", {})]
        assert any("Output Shape" in o["data"]["text/html"] for o in html)  # model.summary()
        assert any("History:" in o["data"]["text/html"] for o in html)

def _run_cells(kernel, sources):
    import nbclient
    import nbformat
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(s) for s in ["%reset -f", *sources]]
    nbclient.NotebookClient(book, km=kernel, timeout=120).execute()
    return [c.outputs for c in book.cells[1:]]


def test_a_lab_figure_shows_once_as_a_png_with_or_without_pyplot(kernel):
    """The kernel runs with Jupyter's inline backend. Without pyplot the backend never
    registers its PNG formatter (the lab does not import pyplot): the figure's own
    representation must show it. With pyplot imported (the formatter registered) and with
    ``%matplotlib inline``, it still shows once, not twice."""
    figure = "gw.lab.perceptron_line()"
    outputs = _run_cells(kernel, [
        f"import gradwise as gw\n{figure}",
        f"import matplotlib.pyplot as plt\n{figure}",
        f"%matplotlib inline\n{figure}",
        "fig = gw.lab.perceptron_line()\nfig.show()",
        "import tempfile, pathlib\n"
        "data = gw.lab.gradient_descent_steps(steps=2, resolution=11).data\n"
        "gw.lab.save_gradient_descent_gif(data, pathlib.Path(tempfile.mkdtemp()) / 'g.gif')",
    ])
    for cell in outputs[:4]:
        images = [o for o in cell if "image/png" in o.get("data", {})]
        assert len(images) == 1, cell
        assert "fig.data: z=-6" in images[0]["data"]["text/plain"]
    assert [o.output_type for o in outputs[3]] == ["display_data"]  # show() displays it
    assert [list(o["data"]) for o in outputs[4]] == [["image/gif", "text/plain"]]


def test_the_install_cell_runs_pip_only_where_gradwise_is_missing(monkeypatch):
    """Executed as Colab would (gradwise missing): it refuses the placeholder address, and
    with a real one calls pip once with the notebook extra; where gradwise imports, nothing."""
    import importlib.util
    import subprocess
    import sys
    install = _source(next(c for c in _book(NOTEBOOKS[0])["cells"] if c["cell_type"] == "code"))
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda cmd: calls.append(cmd))
    exec(compile(install, "install", "exec"), {})
    assert calls == []  # gradwise imports here
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gradwise" else real(name, *a))
    with pytest.raises(RuntimeError, match="address of gradwise's repository"):
        exec(compile(install, "install", "exec"), {})
    address = "gradwise[notebook] @ git+https://example.org/team/gradwise"
    exec(compile(install.replace(install.split('"')[1], address), "install", "exec"), {})
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", address]]
