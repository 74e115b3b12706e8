"""train_test_split (seeded, stratified) and Standardizer (fitted on training data only)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradwise.data import Standardizer, train_test_split


def data(n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    X = np.arange(3 * n, dtype=np.float32).reshape(n, 3)
    return X, np.arange(n)


def test_split_sizes_rows_stay_paired_and_partition() -> None:
    X, y = data(100)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=0)
    assert X_tr.shape == (80, 3) and X_te.shape == (20, 3) and y_tr.shape == (80,)
    np.testing.assert_array_equal(X_tr[:, 0], 3 * y_tr)
    np.testing.assert_array_equal(X_te[:, 0], 3 * y_te)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(100))
    assert not np.array_equal(y_te, np.arange(80, 100))  # shuffled


def test_split_is_seeded() -> None:
    X, y = data(50)
    a = train_test_split(X, y, seed=3)
    b = train_test_split(X, y, seed=3)
    c = train_test_split(X, y, seed=4)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[3], c[3])


def test_split_sizes_round_the_test_set_up_or_take_a_count() -> None:
    X, y = data(10)
    assert len(train_test_split(y, test_size=0.25)[1]) == 3  # ceil(2.5)
    assert len(train_test_split(X, y, test_size=4)[1]) == 4


def test_split_without_shuffle_takes_the_last_rows() -> None:
    _, y = data(10)
    y_tr, y_te = train_test_split(y, test_size=0.3, shuffle=False)
    np.testing.assert_array_equal(y_tr, np.arange(7))
    np.testing.assert_array_equal(y_te, [7, 8, 9])


def test_stratified_split_keeps_each_class_share() -> None:
    labels = np.repeat([0, 1, 2], [140, 40, 20])
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(200)]
    X = rng.standard_normal((200, 2))
    X_tr, X_te, y_tr, y_te = train_test_split(X, labels, test_size=0.25, seed=1, stratify=labels)
    np.testing.assert_array_equal(np.bincount(y_te), [35, 10, 5])
    np.testing.assert_array_equal(np.bincount(y_tr), [105, 30, 15])


@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    frac=st.floats(0.05, 0.95),
    seed=st.integers(0, 1000),
)
def test_stratified_shares_within_one_of_ideal(counts: list[int], frac: float, seed: int):
    labels = np.repeat(np.arange(len(counts)), counts)
    n = len(labels)
    assume(n >= 2)
    n_test = min(max(int(np.ceil(frac * n)), 1), n - 1)
    y_tr, y_te = train_test_split(labels, test_size=n_test, seed=seed, stratify=labels)
    got = np.bincount(y_te, minlength=len(counts))
    assert got.sum() == n_test and len(y_tr) == n - n_test
    assert np.all(np.abs(got - np.array(counts) * n_test / n) < 1)


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.1, 0, 10, True, "0.2"])
def test_bad_test_size(bad: object) -> None:
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(np.arange(10), test_size=bad)  # type: ignore[arg-type]


def test_split_errors() -> None:
    with pytest.raises(ValueError, match="array 0 has 10, array 1 has 9"):
        train_test_split(np.zeros(10), np.zeros(9))
    with pytest.raises(ValueError, match="at least one array"):
        train_test_split()
    with pytest.raises(ValueError, match=r"stratify must have shape \(10,\)"):
        train_test_split(np.zeros(10), stratify=np.zeros(9))
    with pytest.raises(ValueError, match="shuffle=True"):
        train_test_split(np.zeros(10), stratify=np.zeros(10), shuffle=False)


def test_standardizer_fits_on_training_data_only() -> None:
    rng = np.random.default_rng(0)
    X_train = (rng.standard_normal((200, 3)) * [1.0, 5.0, 0.1] + [2.0, -3.0, 10.0]).astype(
        np.float32
    )
    X_test = X_train[:50] + np.float32(1.0)
    scaler = Standardizer().fit(X_train)
    Z_train, Z_test = scaler.transform(X_train), scaler.transform(X_test)
    assert Z_train.dtype == np.float32 and Z_test.dtype == np.float32
    np.testing.assert_allclose(Z_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z_train.std(axis=0), 1, atol=1e-5)
    mu, sigma = X_train.astype(np.float64).mean(0), X_train.astype(np.float64).std(0)
    np.testing.assert_allclose(Z_test, (X_test - mu) / sigma, rtol=1e-5, atol=1e-5)
    assert not np.allclose(Z_test.mean(axis=0), Standardizer().fit_transform(X_test).mean(axis=0))
    np.testing.assert_allclose(scaler.inverse_transform(Z_test), X_test, rtol=1e-5, atol=1e-5)


def test_zero_variance_feature_gets_scale_one() -> None:
    X = np.array([[1.0, 7.0], [3.0, 7.0], [5.0, 7.0]])
    scaler = Standardizer()
    Z = scaler.fit_transform(X)
    np.testing.assert_array_equal(scaler.scale_[1], 1.0)
    np.testing.assert_array_equal(Z[:, 1], 0.0)
    assert np.all(np.isfinite(Z)) and Z.dtype == np.float64


def test_integer_input_gives_float32() -> None:
    Z = Standardizer().fit_transform(np.array([[0, 255], [255, 0]], dtype=np.uint8))
    assert Z.dtype == np.float32
    np.testing.assert_array_equal(Z, [[-1, 1], [1, -1]])


def test_state_dict_round_trip() -> None:
    X = np.random.default_rng(1).standard_normal((30, 4)).astype(np.float32)
    scaler = Standardizer().fit(X)
    state = scaler.state_dict()
    assert set(state) == {"mean", "scale"}
    np.testing.assert_allclose(state["mean"], X.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(state["scale"], X.astype(np.float64).std(axis=0), rtol=1e-12)
    assert all(v.dtype == np.float64 for v in state.values())
    state["mean"][:] = 0.0  # a copy: changing it leaves the fitted scaler alone
    assert np.all(scaler.mean_ != 0.0)
    state = scaler.state_dict()
    restored = Standardizer()
    restored.load_state_dict(state)
    np.testing.assert_array_equal(restored.transform(X), scaler.transform(X))


def test_standardizer_errors() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        Standardizer().transform(np.zeros((2, 2)))
    with pytest.raises(RuntimeError, match="not fitted"):
        Standardizer().state_dict()
    scaler = Standardizer().fit(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"rows of shape \(2,\).*fitted on rows of shape \(3,\)"):
        scaler.transform(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least one row"):
        Standardizer().fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="keys 'mean' and 'scale'"):
        Standardizer().load_state_dict({"mean": np.zeros(3)})
    with pytest.raises(ValueError, match="shape"):
        Standardizer().load_state_dict({"mean": np.zeros(3), "scale": np.ones(2)})
    with pytest.raises(ValueError, match="> 0"):
        Standardizer().load_state_dict({"mean": np.zeros(2), "scale": np.zeros(2)})
