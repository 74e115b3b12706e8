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


def test_the_lecture_notebooks_are_there_and_stored_without_outputs():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_perceptron.ipynb", "02_will_i_pass.ipynb", "03_spiral_fit.ipynb",
            "04_optimizers.ipynb", "05_overfitting.ipynb", "06_loss_landscape.ipynb"} <= names
    for path in NOTEBOOKS:
        book = json.loads(path.read_text(encoding="utf-8"))
        for cell in book["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


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


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_a_jupyter_kernel(path, kernel):
    import nbclient
    import nbformat
    book = nbformat.read(str(path), as_version=4)
    book.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))
    client = nbclient.NotebookClient(book, km=kernel, timeout=120)
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    if path.stem == "03_spiral_fit":
        images = [o for o in outputs if "image/png" in o.get("data", {})]
        assert images, "LivePlot drew nothing in the notebook"
        html = [o for o in outputs if "text/html" in o.get("data", {})]
        assert any("Output Shape" in o["data"]["text/html"] for o in html)  # model.summary()
        assert any("History:" in o["data"]["text/html"] for o in html)
