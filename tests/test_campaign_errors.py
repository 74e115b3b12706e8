"""Issue 11's campaign: expected errors are one family (`gradwise.errors`), printed by the
command line as one line with exit 2; anything else keeps its traceback. Crafted checkpoints,
configs, lab arguments, the report's escaping and the API cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradwise as gw
from gradwise.cli import main
from gradwise.errors import CheckpointError, ConfigError, DataError, GradwiseError, RunError
from gradwise.training import checkpoint as ckpt_mod
from gradwise.training.checkpoint import read_checkpoint, read_safetensors, write_safetensors
from gradwise.training.config import ConfigWarning, load_config

TINY = ["--set", "data.n=200", "--set", "model.hidden=[8]", "--set", "training.epochs=1"]


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith(f"gradwise {argv[0]}: error: ") and "\n" not in err, err
    return err


# --- the family ---------------------------------------------------------------------------------

def test_names_stay_importable_where_they_were() -> None:
    from gradwise.training.checkpoint import CheckpointError as C
    from gradwise.training.config import ConfigError as K

    assert C is CheckpointError and K is ConfigError
    for cls in (ConfigError, DataError, CheckpointError, RunError):
        assert issubclass(cls, GradwiseError) and issubclass(cls, ValueError)


def test_an_internal_value_error_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(*a: Any, **k: Any) -> None:
        raise ValueError("internal bug")
    monkeypatch.setattr("gradwise.jobs.train.run", bug)
    with pytest.raises(ValueError, match="internal bug"):
        main(["train", "--quiet"])


# --- configs ------------------------------------------------------------------------------------

def test_binary_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "c.toml"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" + bytes(range(256)))
    err = one_line_error(capsys, ["train", str(p)])
    assert "c.toml: not UTF-8 text" in err


def test_config_with_nul_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "c.toml"
    p.write_bytes(b"[data]\x00\x00")
    assert "c.toml" in one_line_error(capsys, ["train", str(p)])


def test_switching_source_drops_the_other_sources_keys(tmp_path: Path) -> None:
    p = tmp_path / "points.csv"
    p.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    config = load_config(None, ["data.source=csv", f"data.path={p}"])
    assert config["data"]["path"] == str(p) and "name" not in config["data"]
    with pytest.raises(ConfigError, match="data.name does not apply"):  # the user set both
        load_config(None, ["data.source=csv", f"data.path={p}", "data.name=moons"])


@pytest.mark.parametrize("item", ["optimizer.weight_decay=1e400", "optimizer.lr=inf",
                                  "optimizer.lr=nan", "data.noise=inf",
                                  "training.early_stopping.min_delta=nan",
                                  "optimizer.betas=[0.9, inf]"])
def test_non_finite_numbers_are_refused(item: str) -> None:
    with pytest.raises(ConfigError, match=item.partition("=")[0]):
        load_config(None, [item])


def test_absurd_learning_rate_warns(capsys: pytest.CaptureFixture[str],
                                    tmp_path: Path) -> None:
    with pytest.warns(ConfigWarning, match="optimizer.lr = 10000000000.0 is unusually large"):
        load_config(None, ["optimizer.lr=1e10"])
    main(["train", "--quiet", "--out", str(tmp_path / "r"), *TINY, "--set",
          "optimizer.lr=1e10"])
    assert "gradwise train: warning: config key optimizer.lr" in capsys.readouterr().err


# --- lab commands -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["landscape", "RUN", "--resolution", "0"], ["landscape", "RUN", "--resolution", "-3"],
    ["landscape", "RUN", "--resolution", "1"], ["race", "--steps", "0"],
    ["race", "--frames", "-1"], ["lr-find", "--steps", "0"], ["lr-find", "--min-lr", "-1"],
    ["lr-find", "--max-lr", "inf"], ["landscape", "RUN", "--workers", "0"],
])
def test_lab_arguments_are_validated(argv: list[str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument" in err and "Traceback" not in err


def test_lr_find_min_above_max(capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(capsys, ["lr-find", "--min-lr", "1", "--max-lr", "0.1"])
    assert "--min-lr 1 must be below --max-lr 0.1" in err


def test_landscape_span_must_be_ordered(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(capsys, ["landscape", str(tmp_path), "--span", "1", "-1", "0", "1"])
    assert "XMIN < XMAX" in err


def test_landscape_of_a_folder_without_a_run(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert "not a gradwise run folder" in one_line_error(capsys, ["landscape", str(tmp_path)])


# --- the report ---------------------------------------------------------------------------------

def test_report_escapes_every_summary_value(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--quiet", "--out", str(out), *TINY]) == 0
    s = json.loads((out / "summary.json").read_text())
    evil = "<script>alert(1)</script>"
    s["monitor"] = evil
    s["saved_model"]["train"]["accuracy"] = evil
    s["saved_model"][evil] = {evil: evil}
    s["epochs_run"] = evil
    s["wall_time_s"] = evil
    (out / "summary.json").write_text(json.dumps(s))
    from gradwise.lab.report import write_report

    page = write_report(out).read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_report_of_a_diverged_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    main(["train", "--quiet", "--out", str(out), *TINY, "--set", "optimizer.name=sgd",
          "--set", "optimizer.lr=1e6"])
    (out / "loss.png").unlink(missing_ok=True)
    from gradwise.lab.report import write_report

    if not (out / "model.safetensors").exists():
        with pytest.raises(GradwiseError):
            write_report(out)
        return
    page = write_report(out).read_text()
    assert "diverged" in page and "weights restored" not in page


# --- crafted checkpoints with a valid digest ----------------------------------------------------

@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    X = np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    gw.manual_seed(0)
    m = gw.nn.Sequential(gw.nn.Dense(2, 4), gw.nn.Dropout(0.1), gw.nn.Dense(4, 1))
    path = tmp_path_factory.mktemp("ck") / "c.safetensors"
    gw.fit(m, "bce_with_logits", gw.optim.Adam(m.parameters()), (X, y), epochs=1, verbose=0,
           checkpoint_path=path, seed=0)
    return path


def craft(src: Path, dst: Path, change: Any) -> Path:
    tensors, meta = read_safetensors(src)
    meta = dict(meta)
    meta.pop("sha256")
    state = json.loads(meta["state"])
    result = change(state, tensors, meta)
    if result is not None:
        meta["state"] = result
    else:
        meta["state"] = json.dumps(state)
    write_safetensors(dst, tensors, meta)
    return dst


def _set(key: str, value: Any) -> Any:
    def change(state: dict, tensors: dict, meta: dict) -> None:
        state[key] = value
    return change


def _drop(key: str) -> Any:
    def change(state: dict, tensors: dict, meta: dict) -> None:
        del state[key]
    return change


def _bogus_generator(state: dict, tensors: dict, meta: dict) -> None:
    state["generators"]["default"] = {"bit_generator": "PCG64", "state": {"state": "x"}}


def _unknown_bit_generator(state: dict, tensors: dict, meta: dict) -> None:
    state["generators"]["default"] = {"bit_generator": "os.system", "state": {}}


def _missing_tensor(state: dict, tensors: dict, meta: dict) -> None:
    name = next(k for k in tensors if k.startswith("state/"))
    del tensors[name]


def _deep(state: dict, tensors: dict, meta: dict) -> str:
    return "[" * 100_000 + "]" * 100_000


def _not_json(state: dict, tensors: dict, meta: dict) -> str:
    return "{not json"


def _state_a_list(state: dict, tensors: dict, meta: dict) -> str:
    return "[1, 2, 3]"


CRAFTED = {
    "missing callbacks": (_drop("callbacks"), "field 'callbacks'"),
    "epoch='abc'": (_set("epoch", "abc"), "field 'epoch' is 'abc'"),
    "epoch=-5": (_set("epoch", -5), "field 'epoch' is -5"),
    "epoch=true": (_set("epoch", True), "field 'epoch' is True"),
    "history a string": (_set("history", "x"), "field 'history'"),
    "optimizer missing": (_drop("optimizer"), "field 'optimizer'"),
    "callbacks not a list": (_set("callbacks", {"a": 1}), "field 'callbacks'"),
    "callback without class": (_set("callbacks", [{"state": {}}]), "field 'callbacks/0'"),
    "generators missing": (_drop("generators"), "field 'generators'"),
    "bogus generator state": (_bogus_generator, "field 'generators/default'"),
    "unknown bit generator": (_unknown_bit_generator, "field 'generators/default'"),
    "missing tensor reference": (_missing_tensor, "refers to tensor"),
    "100k-deep nesting": (_deep, "field 'state'"),
    "non-JSON state": (_not_json, "field 'state' is not JSON"),
    "state not an object": (_state_a_list, "the training state is list"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_checkpoint_is_a_checkpoint_error_naming_the_field(
        case: str, good_checkpoint: Path, tmp_path: Path) -> None:
    change, field = CRAFTED[case]
    path = craft(good_checkpoint, tmp_path / "c.safetensors", change)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert field in str(info.value) and str(path) in str(info.value)


def test_missing_state_metadata(good_checkpoint: Path, tmp_path: Path) -> None:
    tensors, meta = read_safetensors(good_checkpoint)
    meta = {k: v for k, v in meta.items() if k not in ("sha256", "state")}
    write_safetensors(tmp_path / "c.safetensors", tensors, meta)
    with pytest.raises(CheckpointError, match="field 'state' is missing"):
        read_checkpoint(tmp_path / "c.safetensors")


def test_crafted_checkpoint_through_resume_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    from gradwise.training import loop

    real = loop.write_checkpoint

    class Killed(BaseException):
        pass

    def write(path, model, state):  # noqa: ANN001, ANN202
        real(path, model, state)
        raise Killed
    loop.write_checkpoint = write
    try:
        with pytest.raises(Killed):
            main(["train", "--quiet", "--out", str(out), *TINY[:-2], "--set",
                  "training.epochs=3"])
    finally:
        loop.write_checkpoint = real
    ck = out / "checkpoint.safetensors"
    craft(ck, ck, _set("epoch", "abc"))
    err = one_line_error(capsys, ["train", "--resume", str(out)])
    assert "field 'epoch' is 'abc'" in err


@pytest.mark.parametrize("raw", [bytes(range(256)) * 4, b"", b"12345678", b"\xff" * 64])
def test_load_of_random_bytes_says_not_safetensors(tmp_path: Path, raw: bytes) -> None:
    p = tmp_path / "w.safetensors"
    p.write_bytes(raw)
    m = gw.nn.Sequential(gw.nn.Dense(2, 1))
    with pytest.raises(CheckpointError, match="is not a safetensors file") as info:
        gw.load(m, p)
    assert "truncated" not in str(info.value)


def test_truncated_file_still_says_truncated(good_checkpoint: Path, tmp_path: Path) -> None:
    p = tmp_path / "c.safetensors"
    p.write_bytes(good_checkpoint.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        read_checkpoint(p)


def test_docstring_does_not_claim_tamper_detection() -> None:
    doc = ckpt_mod.__doc__ or ""
    assert "tampered file is refused" not in doc and "not tampering" in doc


# --- API ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [["a", "b"], np.array(["a", "b"]),
                                  np.array([{"a": 1}, None], dtype=object), [b"x"]])
def test_tensor_refuses_strings_and_objects(data: Any) -> None:
    with pytest.raises(TypeError, match="a tensor holds numbers"):
        gw.tensor(data)


def test_fit_refuses_string_labels() -> None:
    m = gw.nn.Sequential(gw.nn.Dense(2, 1))
    with pytest.raises(TypeError, match="strings"):
        gw.fit(m, "bce_with_logits", gw.optim.SGD(m.parameters(), lr=0.1),
               (np.zeros((4, 2), np.float32), np.array(["a", "b", "a", "b"])), verbose=0)


def test_sgd_of_a_single_tensor_is_torchs_type_error() -> None:
    p = gw.tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(TypeError, match="params argument given to the optimizer should be an "
                                        "iterable of Tensors or dicts"):
        gw.optim.SGD(p, lr=0.1)


def test_drop_last_over_fewer_samples_than_a_batch_yields_nothing() -> None:
    from gradwise.data import DataLoader

    loader = DataLoader((np.zeros((3, 2)), np.zeros(3)), batch_size=5, drop_last=True)
    assert len(loader) == 0 and list(loader) == []
    m = gw.nn.Sequential(gw.nn.Dense(2, 1))
    with pytest.raises(ValueError, match="no batch"):
        gw.fit(m, "mse", gw.optim.SGD(m.parameters(), lr=0.1), loader, verbose=0)


def test_zero_class_cross_entropy_returns_torchs_values() -> None:
    x = gw.tensor(np.zeros((5, 0)), requires_grad=True)
    t = np.zeros((5, 0), np.float32)
    assert np.isnan(gw.functional.cross_entropy(x, t).item())
    assert gw.functional.cross_entropy(x, t, reduction="sum").item() == 0
    none = gw.functional.cross_entropy(x, t, reduction="none")
    assert none.shape == (5,) and (none.numpy() == 0).all()
    none.sum().backward()
    assert x.grad.shape == (5, 0)
    with pytest.raises(ValueError, match="label 0 is out of range for 0 classes"):
        gw.functional.cross_entropy(x, np.zeros(5, np.int64))


def test_lr_find_that_diverges_at_once_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(capsys, ["lr-find", "--steps", "12", "--min-lr", "1e30",
                                  "--max-lr", "1e35", "--out", str(tmp_path / "f.png"),
                                  "--set", "data.n=100"])
    assert "finite losses" in err and "lower --max-lr" in err
