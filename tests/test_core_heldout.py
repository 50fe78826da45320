"""The held-out score of the core (:mod:`nmfkit._core.heldout`)."""

import numpy as np
import pytest
import scipy.sparse as sp

from nmfkit._core.heldout import heldout_score


def _data(seed, density=0.3):
    rng = np.random.RandomState(seed)
    W = rng.exponential(size=(60, 3))
    H = rng.exponential(size=(3, 40))
    X = (W @ H) * (rng.rand(60, 40) < density)
    return X, H


@pytest.mark.parametrize("beta", [2.0, 1.0])
@pytest.mark.parametrize("density", [0.3, 1.0])
def test_dense_and_sparse_input_get_the_same_score(beta, density):
    # the same hidden entries and the same fit of W: a rank choice by the
    # held-out score cannot depend on the container
    X, H = _data(0, density)
    dense = heldout_score(X, H, beta=beta, random_state=0)
    for fmt in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix):
        assert heldout_score(fmt(X), H, beta=beta, random_state=0) == pytest.approx(
            dense, rel=1e-10)
    # stored zeros are zeros
    S = sp.csr_matrix(X)
    S.data[::7] = 0.0
    Z = S.toarray()
    assert heldout_score(S, H, beta=beta, random_state=0) == pytest.approx(
        heldout_score(Z, H, beta=beta, random_state=0), rel=1e-10)


def test_score_prefers_the_true_components():
    X, H = _data(1, density=1.0)
    good = heldout_score(X, H, random_state=0)
    worse = heldout_score(X, H[:2], random_state=0)
    noisy = heldout_score(X, H + np.random.RandomState(2).exponential(size=H.shape),
                          random_state=0)
    assert good > worse and good > noisy
    assert good == pytest.approx(0.0, abs=1e-6)  # exact model: no held-out error


@pytest.mark.parametrize("beta", [2.0, 1.0])
def test_a_cached_split_gives_the_score_of_a_fresh_one(beta):
    # a seed hides the same entries every time: the split is made once per X
    # (RandomState(0) is the same draw, never cached)
    from nmfkit._core import heldout

    X, H = _data(3, density=0.4)
    for container in (X, sp.csr_matrix(X)):
        heldout._SPLITS.clear()
        first = heldout_score(container, H, beta=beta, random_state=0)
        assert len(heldout._SPLITS) == 1
        again = heldout_score(container, H, beta=beta, random_state=0)
        fresh = heldout_score(container, H, beta=beta,
                              random_state=np.random.RandomState(0))
        assert first == again == pytest.approx(fresh, rel=1e-12)
        assert len(heldout._SPLITS) == 1


def test_an_X_changed_in_place_gets_a_new_split():
    from nmfkit._core import heldout

    X, H = _data(4, density=0.5)
    heldout_score(X, H, random_state=0)
    X[X > 0] *= 2.0  # the same pattern, other values
    X[0, :] = 0.0    # and another pattern
    assert heldout_score(X, H, random_state=0) == pytest.approx(
        heldout_score(X, H, random_state=np.random.RandomState(0)), rel=1e-12)
    X_vis, rows = heldout._SPLITS[next(reversed(heldout._SPLITS))][0][:2]
    assert not X_vis.data.flags.writeable and not rows.flags.writeable


def test_the_split_cache_keeps_to_its_byte_budget(monkeypatch):
    from nmfkit._core import heldout

    heldout._SPLITS.clear()
    monkeypatch.setattr(heldout, "_SPLITS_BUDGET", 40_000)
    scores = []
    for seed in range(6):
        X, H = _data(10 + seed, density=0.5)
        scores.append(heldout_score(X, H, random_state=0))
        held = sum(v[1] for v in heldout._SPLITS.values())
        assert 0 < held <= 40_000
    assert 1 <= len(heldout._SPLITS) < 6  # the oldest went out
    X, H = _data(15, density=0.5)  # the newest is still there, and still right
    assert heldout_score(X, H, random_state=0) == scores[-1]
    big, Hb = np.random.RandomState(0).rand(200, 100), np.ones((2, 100))
    heldout._SPLITS.clear()
    heldout_score(big, Hb, random_state=0)  # 160 kB of X: too large to keep
    assert len(heldout._SPLITS) == 0
