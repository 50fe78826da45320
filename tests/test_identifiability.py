"""Tests of nmfkit.identifiability: exact checks of the sufficiently scattered
condition against an independent brute-force vertex enumeration."""

import itertools
import runpy
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from nmfkit import NMF
from nmfkit.identifiability import (
    check_factorization,
    check_identifiability,
    check_ssc,
    is_separable,
)


# ---------------------------------------------------------------- brute force
def brute_force(H):
    """Independent answer: every vertex of {x : H^T x >= 0, sum x = 1}.

    Returns ``(bounded, p_star, q)``, ``q`` the largest ||v||^2 over the
    vertices that are not unit vectors. Vertices come from every choice of
    r - 1 columns whose hyperplanes, with sum x = 1, meet in one point.
    """
    r, n = H.shape
    Hn = H / H.sum(axis=0)
    for i in range(r):  # bounded iff every coordinate is bounded on P
        for sign in (1.0, -1.0):
            c = np.zeros(r)
            c[i] = sign
            res = linprog(c, A_ub=-Hn.T, b_ub=np.zeros(n), A_eq=np.ones((1, r)),
                          b_eq=[1.0], bounds=(None, None), method="highs")
            if res.status == 3:
                return False, np.inf, np.inf
    p, q = -np.inf, -np.inf
    b = np.zeros(r)
    b[-1] = 1.0
    for S in itertools.combinations(range(n), r - 1):
        A = np.vstack([Hn[:, S].T, np.ones(r)])
        if abs(np.linalg.det(A)) < 1e-12:
            continue
        v = np.linalg.solve(A, b)
        if (Hn.T @ v).min() < -1e-10:
            continue
        f = float(v @ v)
        p = max(p, f)
        if np.abs(v - np.eye(r)[np.argmax(v)]).max() > 1e-7:
            q = max(q, f)
    return True, p, q


def random_H(rng, r, n, kind):
    if kind == "dense":
        H = rng.random((r, n))
    elif kind == "sparse":
        H = rng.random((r, n)) * (rng.random((r, n)) < 0.45)
    else:  # "zeros": a fixed number of zeros per column, often SSC
        H = rng.random((r, n))
        for j in range(n):
            H[rng.choice(r, r - 2, replace=False), j] = 0.0
    if kind != "dense" and rng.random() < 0.3:
        H[:, :r] = np.eye(r) * rng.uniform(0.5, 2.0, r)  # separable
    empty = ~H.any(axis=0)
    H[:, empty] = rng.random((r, int(empty.sum()))) + 0.1
    return H


# ------------------------------------------------------------------ examples
def test_separable_holds(rng):
    H = np.hstack([np.diag([2.0, 0.5, 3.0, 1.0]), rng.random((4, 30))])
    res = check_ssc(H)
    assert res.holds is True and res.method == "separable"
    assert res.value == 1.0 and res.x is None and res.failed_part is None
    assert is_separable(H)
    assert not is_separable(H[:, 4:])
    # zero_tol: a tiny positive entry counts as zero
    H2 = H.copy()
    H2[1, 0] = 1e-12
    assert not is_separable(H2) and is_separable(H2, zero_tol=1e-9)


@pytest.mark.parametrize("method", ["vertices", "bnb", "milp"])
def test_dense_positive_fails_with_certificate(rng, method):
    H = rng.random((4, 25)) + 0.05
    res = check_ssc(H, method=method)
    assert res.holds is False and res.failed_part == "first"
    assert res.status == "optimal" and res.method == method
    x = res.x
    assert (H.T @ x).min() >= -1e-9 * np.abs(H).max()
    assert x.sum() == pytest.approx(1.0, abs=1e-9)
    assert x @ x > 1.0 + 1e-3
    assert res.value == pytest.approx(x @ x, rel=1e-4)
    _, p, _ = brute_force(H)
    assert res.value == pytest.approx(p, rel=2e-4)
    assert res.lower_bound <= p * (1 + 1e-9) and p <= res.upper_bound * (1 + 1e-9)


@pytest.mark.parametrize("method", ["vertices", "bnb", "milp"])
def test_second_part_fails(method):
    # the dual polytope is conv(e1, e2, e3, v) with v = (2, 2, -1) / 3, ||v|| = 1
    H = np.array([[1.0, 0, 1, 0], [0, 1, 0, 1], [0, 0, 2, 2]])
    res = check_ssc(H, method=method)
    assert res.holds is False and res.failed_part == "second"
    assert res.value == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(res.x, [2 / 3, 2 / 3, -1 / 3], atol=1e-6)


def _two_zeros_per_column(rng):
    """r = 4, two zeros per column, all 6 patterns with two random weights each
    three times: SSC holds and H is not separable (checked by brute force)."""
    cols = []
    for i, j in itertools.combinations(range(4), 2):
        for _ in range(3):
            c = np.zeros(4)
            c[[i, j]] = rng.uniform(0.2, 1.0, 2)
            cols.append(c)
    return np.array(cols).T


def test_ssc_holds_not_separable():
    # cone(H) = the columns with two zeros' complement: r = 4, two zeros per
    # column, all 6 patterns with two random weights (checked by brute force)
    H = _two_zeros_per_column(np.random.default_rng(3))
    bounded, p, q = brute_force(H)
    assert bounded and p == pytest.approx(1.0) and q < 1 - 1e-3  # the planted truth
    for method in ("vertices", "bnb", "milp"):
        res = check_ssc(H, method=method)
        assert res.holds is True, method
        assert res.value == 1.0 and res.upper_bound == 1.0


def test_bnb_without_scipys_private_highs_object_gives_the_same_answers(monkeypatch):
    # the branch and bound re-solves its LPs through scipy's bundled HiGHS
    # object (a private module); without it, every LP goes through linprog
    from nmfkit._core import ssc

    rng = np.random.default_rng(7)
    cases = [random_H(rng, r, n, kind) for r, n, kind in
             [(3, 7, "dense"), (4, 9, "zeros"), (4, 10, "sparse"), (3, 6, "zeros")]]
    cases.append(np.array([[1.0, 0, 1, 0], [0, 1, 0, 1], [0, 0, 2, 2]]))  # second
    cases.append(_two_zeros_per_column(rng))  # holds
    fast = [check_ssc(H, method="bnb") for H in cases]
    assert {r.holds for r in fast} == {True, False}
    assert {r.failed_part for r in fast} == {"first", "second", None}
    calls = []
    real_init = ssc._PolytopeLP.__init__

    def without_highs(self, A):
        real_init(self, A)
        calls.append(self.highs is not None)
        self.highs = None

    monkeypatch.setattr(ssc._PolytopeLP, "__init__", without_highs)
    slow = [check_ssc(H, method="bnb") for H in cases]
    assert calls and any(calls)  # the fast path was there, and was switched off
    for a, b in zip(fast, slow):
        assert a.holds is b.holds and a.failed_part == b.failed_part
        assert b.value == pytest.approx(a.value, rel=1e-6)


@pytest.mark.slow
def test_agrees_with_brute_force(rng):
    seen = {True: 0, False: 0}
    parts = set()
    for t in range(36):
        r = 3 if t % 2 else 4
        n = int(rng.integers(r + 2, 13))
        H = random_H(rng, r, n, ("dense", "sparse", "zeros")[t % 3])
        bounded, p, q = brute_force(H)
        truth = bounded and q < 1 - 1e-6
        seen[truth] += 1
        for method in ("vertices", "bnb"):
            res = check_ssc(H, method=method)
            assert res.holds is truth, (t, method, res, p, q)
            parts.add(res.failed_part)
            if not bounded:
                assert res.value == np.inf
            else:
                assert res.value == pytest.approx(max(p, 1.0), rel=2e-4), (t, method)
        if t < 8:
            assert check_ssc(H, method="milp").holds is truth
    assert seen[True] >= 5 and seen[False] >= 5  # both answers were exercised
    assert {"first", None} <= parts


def _zeros_H(seed, r, n, zeros):
    rng = np.random.default_rng(seed)
    H = rng.random((r, n))
    for j in range(n):
        H[rng.choice(r, zeros, replace=False), j] = 0.0
    return H


def test_time_limit_on_a_failing_instance_returns_bounds():
    H = _zeros_H(0, 8, 40, 3)  # fails SSC: p* = 1.3733 (vertex enumeration)
    exact = check_ssc(H, method="vertices")
    assert exact.status == "optimal" and exact.holds is False
    for method in ("bnb", "milp"):
        res = check_ssc(H, method=method, time_limit=1e-3)
        assert res.status == "time_limit", method
        assert res.holds in (None, False)  # never "holds"
        assert res.lower_bound <= exact.value * (1 + 1e-9)
        assert exact.value <= res.upper_bound * (1 + 1e-9)
        if res.holds is False:  # decided early, with a valid certificate
            assert (H.T @ res.x).min() >= -1e-9 and res.x @ res.x > 1
            assert res.x @ res.x <= exact.value * (1 + 1e-9)


def test_time_limit_on_a_holding_instance_returns_bounds():
    H = _zeros_H(5, 8, 100, 3)
    full = check_ssc(H, method="bnb")
    assert full.holds is True and full.status == "optimal"
    res = check_ssc(H, method="bnb", time_limit=1e-3)
    assert res.status == "time_limit"
    assert res.holds is None and res.x is None  # undecided, not a guess
    assert res.lower_bound == 1.0 and res.upper_bound > 1.0
    assert "Undecided" in res.message


def test_rank_and_cone_failures():
    rng = np.random.default_rng(0)
    H = rng.random((5, 3))  # r > n: answered without a solver
    res = check_ssc(H)
    assert res.holds is False and res.method == "rank" and res.failed_part == "cone"
    assert res.value == np.inf
    x, d = res.x, res.ray
    assert (H.T @ x).min() >= -1e-9 and x.sum() == pytest.approx(1.0)
    assert x @ x > 1 and d.sum() == pytest.approx(0.0, abs=1e-9)
    # e outside cone(H): all columns near e1
    H = np.array([[1.0, 1.0, 1.0], [0.1, 0.2, 0.0], [0.0, 0.1, 0.2]])
    res = check_ssc(H)
    assert res.failed_part == "cone" and res.method == "cone"
    assert (H.T @ res.ray).min() >= -1e-9 and abs(res.ray.sum()) < 1e-9
    assert (H.T @ res.x).min() >= -1e-9 and res.x @ res.x > 1
    # rank deficient with n >= r
    H = np.array([[1.0, 0.0, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0], [1.0, 1.0, 2.0, 3.0]])
    res = check_ssc(H)
    assert res.holds is False and res.failed_part == "cone"
    assert (H.T @ res.x).min() >= -1e-9 and res.x @ res.x > 1


def test_r_equals_two():
    assert check_ssc(np.array([[1.0, 0.0, 1.0], [0.0, 2.0, 1.0]])).holds
    res = check_ssc(np.array([[1.0, 0.2, 1.0], [0.0, 2.0, 1.0]]))
    assert res.holds is False and res.failed_part == "first"
    assert res.x @ res.x > 1


@pytest.mark.parametrize(
    "H, match",
    [
        (np.array([[1.0, -1.0], [0.0, 1.0]]), "negative"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "non-finite"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "non-finite"),
        (np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), "zero columns"),
        (np.array([[1.0, 2.0, 3.0]]), "r >= 2"),
        (np.array([1.0, 2.0, 3.0]), "2-D"),
        (np.ones((2, 0)), "no columns"),
        ([["a", "b"], ["c", "d"]], "numbers"),
    ],
)
def test_bad_input(H, match):
    with pytest.raises(ValueError, match=match):
        check_ssc(H)


def test_bad_parameters():
    H = np.eye(3)
    with pytest.raises(ValueError, match="method"):
        check_ssc(H, method="magic")
    with pytest.raises(ValueError, match="time_limit"):
        check_ssc(H, time_limit=0)
    with pytest.raises(ValueError, match="tol"):
        check_ssc(H, tol=-1)


def test_sparse_input_same_answer(rng):
    H = random_H(rng, 4, 12, "zeros")
    a, b = check_ssc(H), check_ssc(sp.csr_matrix(H))
    assert a.holds == b.holds and a.value == pytest.approx(b.value)


def test_gurobi_agrees():
    pytest.importorskip("gurobipy")
    H = np.array([[1.0, 0, 1, 0], [0, 1, 0, 1], [0, 0, 2, 2]])
    res = check_ssc(H, method="gurobi")
    assert res.failed_part == "second"
    rng = np.random.default_rng(5)
    H = rng.random((4, 10)) + 0.1
    res = check_ssc(H, method="gurobi")
    if res.status != "size over licence":
        assert res.holds is False
        exact = check_ssc(H, method="vertices").value
        assert res.value == pytest.approx(exact, rel=1e-4)


# ------------------------------------------------------------ factorizations
def test_check_factorization():
    rng = np.random.default_rng(0)
    W = np.vstack([np.eye(3), rng.random((20, 3)) * (rng.random((20, 3)) < 0.5)])
    H = np.hstack([np.eye(3), rng.random((3, 25)) * (rng.random((3, 25)) < 0.5)])
    rep = check_factorization(W, H)
    assert rep.identifiable is True
    assert "essentially unique" in rep.sentence and "rank-3" in rep.sentence
    # a dense W cannot be sufficiently scattered
    rep = check_factorization(rng.random((20, 3)) + 0.1, H)
    assert rep.identifiable is False and rep.W_result.holds is False
    assert "does not meet" in rep.sentence
    # H alone: at best undecided for plain NMF
    assert check_factorization(None, H).identifiable is None
    assert check_factorization(None, rng.random((3, 9)) + 0.1).identifiable is False
    # symmetric: SSC of W^T alone
    rep = check_factorization(None, H, model="symmetric")
    assert rep.identifiable is True and "W W^T" in rep.sentence
    with pytest.raises(ValueError, match="shape"):
        check_factorization(np.ones((5, 2)), H)
    with pytest.raises(ValueError, match="model"):
        check_factorization(W, H, model="tucker")


def test_check_identifiability_fitted_nmf():
    rng = np.random.default_rng(0)
    W = np.vstack([np.eye(3), rng.random((30, 3)) * (rng.random((30, 3)) < 0.5)])
    H = np.hstack([np.eye(3), rng.random((3, 40)) * (rng.random((3, 40)) < 0.5)])
    X = W @ H
    model = NMF(3, init="nndsvda", max_iter=2000, tol=1e-10, random_state=0).fit(X)
    rep = check_identifiability(model, X)
    assert rep.identifiable is True
    assert rep.H_result.holds and rep.W_result.holds
    # a dense factorization of dense data is not certified
    Xd = rng.random((30, 3)) @ rng.random((3, 20)) + 0.5
    rep = check_identifiability(NMF(3, random_state=0, max_iter=50).fit(Xd), Xd)
    assert rep.identifiable is False
    with pytest.raises(ValueError, match="not fitted"):
        check_identifiability(NMF(3), X)


def test_example_draws_the_cones(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plt, "show", lambda *a, **k: None)
    root = Path(__file__).resolve().parent.parent
    path = root / "examples" / "plot_identifiability.py"
    ns = runpy.run_path(str(path), run_name="__main__")
    assert ns["results"]["scattered"].holds is True
    dense = ns["results"]["dense"]
    assert dense.holds is False and dense.value > 1
    assert len(ns["fig"].axes) == 4
    plt.close("all")
