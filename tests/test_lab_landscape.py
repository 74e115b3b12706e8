"""Loss landscapes (Li et al. 2018): filter normalization, the batched grid evaluation against
the model's own loss, 1D interpolation endpoints, PCA directions, resumable NPZ files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradwise as gw
from gradwise import nn
from gradwise.lab._model import loss_on
from gradwise.lab.landscape import (
    Landscape,
    filter_normalize,
    flat_parameters,
    interpolate,
    loss_along,
    loss_surface,
    pca_directions,
    random_directions,
)
from gradwise.nn.utils import set_flat

RNG = np.random.default_rng(0)


def _model(out: int = 1, dtype: type = np.float64, dropout: bool = True,
           act: str = "relu") -> nn.Sequential:
    gw.manual_seed(0)
    layers: list[nn.Module] = [nn.Dense(2, 8, activation=act)]
    if dropout:
        layers.append(nn.Dropout(0.3))
    layers += [nn.Dense(8, 6, activation="tanh"), nn.Dense(6, out)]
    return nn.Sequential(*layers).to(dtype=dtype).eval()


def _data(n: int = 60, classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    X = RNG.standard_normal((n, 2))
    y = RNG.integers(0, classes, n)
    return X, y


def _loss_at(model: nn.Module, loss: nn.Module, X: np.ndarray, y: np.ndarray,
             theta: np.ndarray) -> float:
    keep = flat_parameters(model)
    set_flat(model, theta)
    with gw.no_grad():
        value = loss_on(model, loss, X, y).item()
    set_flat(model, keep)
    return value


@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 10**6))
def test_filter_normalized_columns_have_the_weights_norms(n_in: int, n_out: int,
                                                          seed: int) -> None:
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)
    d_w, d_b = filter_normalize([rng.standard_normal((n_in, n_out)),
                                 rng.standard_normal(n_out)], [w, b])
    np.testing.assert_allclose(np.linalg.norm(d_w, axis=0), np.linalg.norm(w, axis=0),
                               rtol=1e-12)
    assert not d_b.any()  # Li et al.'s "ignore biasbn": biases do not move
    _, d_b = filter_normalize([w, rng.standard_normal(n_out)], [w, b], include_bias=True)
    np.testing.assert_array_equal(d_b, b)  # net_plotter: d.copy_(w) when biases are kept


def test_random_directions_are_filter_normalized_per_layer_and_seeded() -> None:
    model = _model()
    d = random_directions(model, n=2, seed=3)
    assert d.shape == (2, model.num_parameters())
    np.testing.assert_array_equal(d, random_directions(model, n=2, seed=3))
    assert not np.allclose(d[0], d[1])
    offset = 0
    for _, p in model.named_parameters():
        chunk = d[0, offset:offset + p.size].reshape(p.shape)
        if p.ndim == 2:
            np.testing.assert_allclose(np.linalg.norm(chunk, axis=0),
                                       np.linalg.norm(p.numpy(), axis=0), rtol=1e-10)
        else:
            assert not chunk.any()
        offset += p.size


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_grid_centre_reproduces_the_models_loss_exactly(dtype: type) -> None:
    model, loss = _model(dtype=dtype), nn.BCEWithLogitsLoss()
    X, y = _data()
    with gw.no_grad():
        expected = loss_on(model, loss, X, y).item()
    land = loss_surface(model, loss, X, y, random_directions(model, seed=1), resolution=5)
    assert land.loss.shape == (5, 5) and land.done.all()
    assert land.loss[2, 2] == expected
    logits = model(gw.tensor(X, dtype=dtype)).numpy()[:, 0]
    assert land.accuracy[2, 2] == np.mean((logits > 0) == (y == 1))


@pytest.mark.parametrize("loss_name,out,classes", [("bce_with_logits", 1, 2),
                                                   ("cross_entropy", 3, 3), ("mse", 1, 2)])
def test_every_grid_point_equals_the_model_evaluated_there(loss_name: str, out: int,
                                                           classes: int) -> None:
    model, loss = _model(out=out, act="sigmoid"), nn.get_loss(loss_name)
    X, y = _data(classes=classes)
    if loss_name == "mse":
        y = RNG.standard_normal(len(X))
    theta, d = flat_parameters(model), random_directions(model, seed=2, include_bias=True)
    land = loss_surface(model, loss, X, y, d, resolution=(4, 3), span=(-1, 0.5, -0.3, 0.9),
                        workers=2)
    for i, b in enumerate(land.y):
        for j, a in enumerate(land.x):
            assert land.loss[i, j] == pytest.approx(
                _loss_at(model, loss, X, y, theta + a * d[0] + b * d[1]), rel=1e-10)
    assert np.isnan(land.accuracy).all() == (loss_name == "mse")
    np.testing.assert_array_equal(flat_parameters(model), theta)


def test_interpolation_reproduces_both_endpoints() -> None:
    model, loss = _model(), nn.BCEWithLogitsLoss()
    X, y = _data()
    final = flat_parameters(model)
    init = final + RNG.standard_normal(final.size)
    alphas = np.array([-0.5, 0.0, 0.25, 1.0, 1.5])
    values, _ = interpolate(model, loss, X, y, init, final, alphas)
    assert values[1] == _loss_at(model, loss, X, y, init)
    assert values[3] == _loss_at(model, loss, X, y, final)
    assert values[2] == pytest.approx(_loss_at(model, loss, X, y, 0.75 * init + 0.25 * final),
                                      rel=1e-10)


def test_loss_along_one_direction_matches_single_points() -> None:
    model, loss = _model(), nn.BCEWithLogitsLoss()
    X, y = _data()
    d = random_directions(model, n=1, seed=4)
    coords = np.linspace(-1, 1, 7)[:, None]
    values, acc = loss_along(model, loss, X, y, d, coords, workers=3)
    theta = flat_parameters(model)
    np.testing.assert_allclose(values, [_loss_at(model, loss, X, y, theta + c * d[0])
                                        for c in coords[:, 0]], rtol=1e-10)
    assert ((acc >= 0) & (acc <= 1)).all()


def test_pca_directions_are_orthonormal_and_match_numpy_svd() -> None:
    traj = np.cumsum(RNG.standard_normal((12, 40)) * np.linspace(3, 0.1, 40), axis=0)
    dirs, ev, coords = pca_directions(traj)
    np.testing.assert_allclose(dirs @ dirs.T, np.eye(2), atol=1e-12)
    m = traj - traj[-1]
    s = np.linalg.svd(m - m.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(ev, s[:2] ** 2 / (s**2).sum(), rtol=1e-10)
    np.testing.assert_allclose(coords, m @ dirs.T, atol=1e-12)
    np.testing.assert_array_equal(coords[-1], [0, 0])
    assert (coords[0] >= 0).all()
    with pytest.raises(ValueError, match="T >= 3"):
        pca_directions(traj[:2])


def test_an_interrupted_grid_resumes_keeping_the_rows_already_done(tmp_path: Path) -> None:
    model, loss = _model(), nn.BCEWithLogitsLoss()
    X, y = _data()
    d, path = random_directions(model, seed=5), tmp_path / "grid.npz"
    full = loss_surface(model, loss, X, y, d, resolution=6, path=path)
    saved = Landscape.load(path)  # loads with allow_pickle=False
    np.testing.assert_array_equal(saved.loss, full.loss)
    np.testing.assert_array_equal(saved.directions, d)
    partial = Landscape.load(path)
    partial.done[3:] = False
    partial.loss[3:] = np.nan
    partial.loss[0, 0] = 123.0  # a marker: a kept row is not recomputed
    partial.save(path)
    resumed = loss_surface(model, loss, X, y, d, resolution=6, path=path)
    assert resumed.done.all() and resumed.loss[0, 0] == 123.0
    np.testing.assert_array_equal(resumed.loss[3:], full.loss[3:])
    assert Landscape.load(path).done.all()
    with pytest.raises(ValueError, match="another grid"):
        loss_surface(model, loss, X, y, d, resolution=5, path=path)


def test_unsupported_models_and_bad_grids_are_named() -> None:
    X, y = _data()
    model = _model()
    d = random_directions(model)
    with pytest.raises(ValueError, match="span"):
        loss_surface(model, nn.BCEWithLogitsLoss(), X, y, d, span=(1, -1, 0, 1))
    with pytest.raises(ValueError, match="2 directions"):
        loss_surface(model, nn.BCEWithLogitsLoss(), X, y, d[:1])
    with pytest.raises(ValueError, match="Sequential models of Dense"):
        loss_surface(nn.Sequential(nn.ReLU(), model), nn.BCEWithLogitsLoss(), X, y, d)
