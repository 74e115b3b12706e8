"""The 2D toy sets: shapes, dtypes, balance, seeding, geometry and separability."""

from __future__ import annotations

import numpy as np
import pytest

import gradwise as gw
from gradwise.data import (
    TOY_SETS,
    circle,
    gauss,
    get_toy,
    moons,
    regression_2d,
    regression_gauss,
    regression_plane,
    spiral,
    will_i_pass,
    xor,
)

CLASSIFIERS = [circle, xor, gauss, spiral, moons]


@pytest.mark.parametrize("make", CLASSIFIERS)
@pytest.mark.parametrize("n", [2, 501, 1000])
def test_shapes_dtypes_labels_and_balance(make, n: int) -> None:
    X, y = make(n=n, seed=0)
    assert X.shape == (n, 2) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y, minlength=2), [n // 2, n - n // 2])
    assert np.all(np.isfinite(X)) and np.abs(X).max() < 2


@pytest.mark.parametrize("make", [*CLASSIFIERS, regression_2d])
def test_seed_determinism(make) -> None:
    a, b, c = make(n=200, seed=1), make(n=200, seed=1), make(n=200, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("make", CLASSIFIERS)
def test_rows_are_shuffled(make) -> None:
    _, y = make(n=200, seed=0)
    assert 0 < y[:100].sum() < 100


@pytest.mark.parametrize("make", CLASSIFIERS)
def test_default_sets_are_separable(make) -> None:
    """A 5-nearest-neighbour vote on 800 points classifies 200 held-out ones >= 95% right."""
    X, y = make(seed=0)
    X_tr, X_va, y_tr, y_va = X[:800], X[800:], y[:800], y[800:]
    d = ((X_va[:, None, :] - X_tr[None, :, :]) ** 2).sum(-1)
    votes = y_tr[np.argsort(d, axis=1)[:, :5]].mean(axis=1)
    assert ((votes > 0.5) == y_va).mean() >= 0.95


def test_noise_moves_points() -> None:
    X0, y0 = spiral(n=100, noise=0.0, seed=0)
    X1, y1 = spiral(n=100, noise=0.2, seed=0)
    np.testing.assert_array_equal(y0, y1)
    assert np.abs(X1 - X0).mean() > 0.05


def test_circle_geometry() -> None:
    X, y = circle(n=400, noise=0.0, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r[y == 1].max() <= 0.5 and r[y == 0].min() >= 0.7 - 1e-6 and r.max() <= 1 + 1e-6


def test_xor_geometry() -> None:
    X, y = xor(n=400, noise=0.0, seed=0)
    np.testing.assert_array_equal(X[:, 0] * X[:, 1] > 0, y == 1)
    assert np.abs(X).min() >= 0.05 - 1e-6


def test_gauss_geometry() -> None:
    X, y = gauss(n=2000, noise=0.0, seed=0)
    np.testing.assert_allclose(X[y == 1].mean(0), [0.5, 0.5], atol=0.05)
    np.testing.assert_allclose(X[y == 0].mean(0), [-0.5, -0.5], atol=0.05)
    np.testing.assert_allclose(X[y == 1].std(0), [0.25, 0.25], atol=0.03)


def test_spiral_geometry() -> None:
    X, y = spiral(n=400, noise=0.0, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    t = np.arctan2(X[:, 0], X[:, 1])  # point = (r sin t, r cos t)
    expected = 3.5 * np.pi * r + np.where(y == 1, 0.0, np.pi)
    np.testing.assert_allclose(np.cos(t - expected), 1.0, atol=1e-4)
    assert r.max() <= 1 + 1e-6


def test_moons_geometry() -> None:
    X, y = moons(n=400, noise=0.0, seed=0)
    np.testing.assert_allclose(np.hypot(X[y == 0, 0] + 0.5, X[y == 0, 1] + 0.25), 1, atol=1e-5)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 0.5, X[y == 1, 1] - 0.25), 1, atol=1e-5)
    assert X[y == 0, 1].min() >= -0.25 - 1e-6 and X[y == 1, 1].max() <= 0.25 + 1e-6


def test_regression_2d() -> None:
    X, y = regression_2d(n=300, noise=0.0, seed=0)
    assert X.shape == (300, 2) and X.dtype == np.float32
    assert y.shape == (300, 1) and y.dtype == np.float32
    assert np.abs(X).max() <= 1
    x64 = X.astype(np.float64)
    expected = np.sin(np.pi * x64[:, 0]) * np.cos(np.pi * x64[:, 1] / 2)
    np.testing.assert_allclose(y[:, 0], expected, atol=1e-6)
    _, y_noisy = regression_2d(n=300, noise=0.1, seed=0)
    assert 0.05 < np.std(y_noisy - y) < 0.2


def test_regression_plane() -> None:
    X, y = regression_plane(n=300, noise=0.0, seed=0)
    assert X.shape == (300, 2) and y.shape == (300, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y[:, 0], (X[:, 0] + X[:, 1]) / 2, atol=1e-6)
    assert np.abs(y).max() <= 1


def test_regression_gauss_bumps() -> None:
    X, y = regression_gauss(n=2000, noise=0.0, seed=0)
    assert X.shape == (2000, 2) and y.shape == (2000, 1) and np.abs(y).max() <= 1.01
    near = lambda cx, cy: np.hypot(X[:, 0] - cx, X[:, 1] - cy) < 0.05  # noqa: E731
    assert y[near(-0.5, 0.5), 0].min() > 0.9 and y[near(0.5, -0.5), 0].min() > 0.9
    assert y[near(0.5, 0.5), 0].max() < -0.9 and y[near(-0.5, -0.5), 0].max() < -0.9


def test_will_i_pass_follows_its_rule() -> None:
    X, y = will_i_pass(n=500, noise=0.0, seed=0)
    assert X.shape == (500, 2) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() >= 0 and X.max() <= 12
    np.testing.assert_array_equal(y, (0.6 * X[:, 0] + 0.8 * X[:, 1] - 7 > 0).astype(np.int64))
    assert 0.6 * 4 + 0.8 * 5 - 7 < 0  # the slide's student (4 lectures, 5 hours) fails
    assert 0.2 < y.mean() < 0.8


def test_get_toy_by_name() -> None:
    assert set(TOY_SETS) == {"circle", "xor", "gauss", "spiral", "moons", "regression_2d",
                             "regression_plane", "regression_gauss", "will_i_pass", "three_blobs"}
    X, y = get_toy("moons", n=50, noise=0.2, seed=3)
    X2, y2 = moons(n=50, noise=0.2, seed=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert gw.data.get_toy is get_toy and gw.data.spiral is spiral


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="'spirals'.*circle, gauss, moons, regression_2d"):
        get_toy("spirals")


@pytest.mark.parametrize(
    "make", [*CLASSIFIERS, regression_2d, regression_plane, regression_gauss, will_i_pass]
)
def test_bad_arguments(make) -> None:
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        make(n=1)
    with pytest.raises(ValueError, match="n must be"):
        make(n=10.5)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        make(noise=-0.1)
