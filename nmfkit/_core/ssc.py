"""Exact checks of the sufficiently scattered condition (SSC).

Pure functions over a non-negative ``H`` of shape ``(r, n)`` whose columns
have been scaled to sum to one (``Hn``; scaling columns does not change
``cone(H)``). No validation here: :mod:`nmfkit.identifiability` validates.

The problem
-----------
``P = {x : Hn^T x >= 0, e^T x = 1}`` is the slice of the dual cone
``cone*(H)``. The unit vectors ``e_k`` always lie in ``P`` (``H >= 0``) and
have ``||e_k||^2 = 1``. SSC holds if and only if

* ``e`` lies in the interior of ``cone(H)`` (otherwise ``cone*(H)`` holds a
  non-zero ``d`` with ``e^T d <= 0``; then ``P`` is unbounded or ``H`` is
  rank deficient), and
* every vertex of ``P`` other than the unit vectors has ``||v||^2 < 1``.

(``||x||^2`` is strictly convex, so its maximisers over ``P`` are vertices; a
vertex with ``||v||^2 > 1`` breaks the first part of SSC, one with value 1
the second.) ``p* = max_P ||x||^2 = max(1, q)`` where ``q`` is the largest
value at a non-unit vertex.

Three exact methods:

``vertices``
    every vertex of ``P`` is a facet of ``conv`` of the normalised columns
    (Qhull, through :class:`scipy.spatial.ConvexHull`); fast for ``r <= 8``.
``milp``
    a mixed-integer linear program solved by HiGHS (:func:`scipy.optimize.milp`).
    At a KKT point of ``max ||x||^2`` over ``P``, ``2x = -Hn lam + mu e`` with
    ``lam >= 0`` complementary to ``Hn^T x``, and then ``||x||^2 = mu / 2``: a
    linear objective. Complementarity is modelled with one binary per column
    (``z_j = 1``: constraint ``j`` active), with big-M constants derived from
    LP bounds on ``x`` (``sum_j lam_j = r mu - 2`` bounds ``lam``). A vertex
    is a unit vector ``e_k`` exactly when its active constraints are among the
    zeros of row ``k``, so ``sum_{j: H_kj > 0} z_j >= 1`` for every ``k``
    excludes the unit vectors and nothing else that matters. The global maximum
    is a KKT point, so the MILP's optimum decides SSC; with the constraint
    ``mu >= 2 (1 - tol)`` it becomes a feasibility problem when SSC holds.
``gurobi``
    the non-convex quadratic program ``max ||x||^2`` over ``P`` with the same
    exclusion of the unit vectors (indicator constraints), solved by Gurobi.
"""

import math
import time

import numpy as np
from scipy.optimize import linprog

__all__ = [
    "box_bounds",
    "cone_direction",
    "is_separable",
    "ssc_gurobi",
    "ssc_bnb",
    "ssc_milp",
    "ssc_vertices",
]

_LP_OPTIONS = {"presolve": True}


def _lp(c, A_ub=None, b_ub=None, A_eq=None, b_eq=None, bounds=(None, None)):
    return linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                   bounds=bounds, method="highs", options=_LP_OPTIONS)


def is_separable(H):
    """Whether ``H`` holds a positive multiple of every unit vector as a column."""
    r = H.shape[0]
    positive = H > 0
    single = positive.sum(axis=0) == 1
    rows = np.argmax(positive[:, single], axis=0)
    return np.unique(rows).size == r


def cone_direction(Hn, tol):
    """A non-zero ``d`` with ``Hn^T d >= 0`` and ``e^T d = 0``, or ``None``.

    ``None`` means ``e`` is in the interior of ``cone(Hn)`` (and ``Hn`` has
    full row rank), so ``P`` is bounded. The direction is returned with unit
    Euclidean norm.
    """
    r, n = Hn.shape
    e = np.ones(r)
    s = np.linalg.svd(Hn, compute_uv=False)
    if r > n or s[-1] <= tol * s[0]:
        U, _, _ = np.linalg.svd(Hn)
        u = U[:, -1]  # Hn^T u ~ 0: +u and -u are both in the dual cone
        if abs(e @ u) <= tol * math.sqrt(r):
            d = u - (e @ u) / r * e
        else:
            u = u / (e @ u)
            # e_k - u has Hn^T (e_k - u) = Hn[k] >= 0 and e^T (e_k - u) = 0
            k = int(np.argmax(np.abs(np.eye(r) - u[:, None]).sum(axis=0)))
            d = np.eye(r)[k] - u
        return d / np.linalg.norm(d)
    c = Hn.sum(axis=1)  # c^T d = sum_j h_j^T d > 0 for any such d
    res = _lp(np.zeros(r), A_ub=-Hn.T, b_ub=np.zeros(n),
              A_eq=np.vstack([e, c]), b_eq=np.array([0.0, 1.0]))
    if res.status != 0:
        return None
    d = res.x
    if (Hn.T @ d).min() < -1e3 * tol * np.abs(d).max():
        return None  # only a tolerance artefact of the LP
    return d / np.linalg.norm(d)


def box_bounds(Hn):
    """Exact bounds ``lo <= x <= hi`` over ``P`` (``2 r`` LPs)."""
    r, n = Hn.shape
    lo, hi = np.empty(r), np.empty(r)
    A_ub, b_ub = -Hn.T, np.zeros(n)
    A_eq, b_eq = np.ones((1, r)), np.ones(1)
    for i in range(r):
        c = np.zeros(r)
        c[i] = 1.0
        lo[i] = _lp(c, A_ub, b_ub, A_eq, b_eq).fun
        hi[i] = -_lp(-c, A_ub, b_ub, A_eq, b_eq).fun
    return lo, hi


def _polish(Hn, x, tol=1e-9):
    """Snap ``x`` (near a vertex of ``P``) to the vertex its active set defines."""
    r = Hn.shape[0]
    act = np.flatnonzero(Hn.T @ x <= tol * max(1.0, np.abs(x).max()))
    if act.size == 0:
        return x
    A = np.vstack([Hn[:, act].T, np.ones((1, r))])
    b = np.zeros(act.size + 1)
    b[-1] = 1.0
    y, *_ = np.linalg.lstsq(A, b, rcond=None)
    if np.linalg.matrix_rank(A, tol=1e-10) < r:
        return x
    if np.abs(y - x).max() > 1e-6 * max(1.0, np.abs(x).max()):
        return x
    return y


def ascend(Hn, x, max_iter=50, lp=None):
    """LP ascent: move to the vertex maximising the linearisation of ``||x||^2``.

    Returns a vertex ``y`` of ``P`` with ``||y||^2 >= ||x||^2`` (convexity).
    ``lp`` is an optional :class:`_PolytopeLP` over ``P``.
    """
    r, n = Hn.shape
    free_lo, free_hi = np.full(r, -np.inf), np.full(r, np.inf)
    best = x
    for _ in range(max_iter):
        if lp is not None:
            _, y = lp.maximize(2.0 * best, free_lo, free_hi)
            if y is None:
                break
        else:
            res = _lp(-2.0 * best, -Hn.T, np.zeros(n), np.ones((1, r)), np.ones(1))
            if res.status != 0:
                break
            y = res.x
        y = _polish(Hn, y)
        if y @ y <= best @ best + 1e-12:
            break
        best = y
    return best


def _unit_index(v, atol=1e-7):
    """``k`` if ``v`` is (numerically) the unit vector ``e_k``, else ``-1``."""
    k = int(np.argmax(v))
    w = v.copy()
    w[k] -= 1.0
    return k if np.abs(w).max() <= atol else -1


# ------------------------------------------------------------------ vertices
def _orthonormal_complement(r):
    """An ``(r, r-1)`` orthonormal basis of ``{x : e^T x = 0}``."""
    Q, _ = np.linalg.qr(np.hstack([np.ones((r, 1)), np.eye(r)[:, : r - 1]]))
    return Q[:, 1:]


def ssc_vertices(Hn):
    """All vertices of ``P`` by a convex hull of the normalised columns.

    Returns ``(V, is_unit)``: the vertices as rows and which are unit
    vectors. ``e`` must lie in the interior of ``cone(Hn)``.
    """
    from scipy.spatial import ConvexHull

    r, n = Hn.shape
    if r == 2:
        # P is the segment of x = (t, 1 - t) with t a + (1 - t) b >= 0
        a, b = Hn
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = -b / (a - b)
        lo = np.max(bound[a < b], initial=-np.inf)
        hi = np.min(bound[a > b], initial=np.inf)
        V = np.array([[lo, 1 - lo], [hi, 1 - hi]])
    else:
        Q = _orthonormal_complement(r)
        pts = np.unique(np.round((Hn.T - 1.0 / r) @ Q, 15), axis=0)
        from scipy.spatial import QhullError

        try:
            hull = ConvexHull(pts, qhull_options="Qt Qx" if r > 5 else "Qt")
        except QhullError:
            # degenerate input (points on low-dimensional faces): joggle; the
            # vertices are recomputed exactly from H's columns below
            hull = ConvexHull(pts, qhull_options="QJ")
        eq = hull.equations
        W = -(eq[:, :-1] @ Q.T + eq[:, -1:])  # W^T h >= 0 on every column
        V = W / W.sum(axis=1, keepdims=True)
        V = np.unique(np.round(V, 12), axis=0)
        V = np.array([_polish(Hn, v) for v in V])
    is_unit = np.array([_unit_index(v) >= 0 for v in V])
    return V, is_unit


# ---------------------------------------------------------------------- milp
def ssc_milp(Hn, tol, time_limit=None, decide_only=False):
    """Solve the KKT mixed-integer program with HiGHS.

    Returns a dict with ``q_lower``, ``q_upper`` (bounds on the largest
    ``||x||^2`` at a KKT point that is not a unit vector; ``-inf`` when there
    is none), ``x`` (the best point found, polished to a vertex, or ``None``)
    and ``status`` (``"optimal"`` or ``"time_limit"``).
    ``decide_only`` adds ``mu >= 2 (1 - tol)``: the program is infeasible
    exactly when SSC holds.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import bmat, csr_matrix, eye as speye, hstack

    r, n = Hn.shape
    t0 = time.perf_counter()
    lo, hi = box_bounds(Hn)
    U = float(np.sum(np.maximum(lo * lo, hi * hi)))
    U = max(U, 1.0)
    L = 2.0 * (r * U - 1.0)
    M = Hn.T @ np.maximum(hi, 0.0) + 1e-9  # h_j^T x <= M_j on P
    # variables: x (r) | lam (n) | mu (1) | z (n)
    Hs = csr_matrix(Hn)
    I_n = speye(n, format="csr")
    kkt = hstack([2.0 * speye(r), Hs, csr_matrix(-np.ones((r, 1))),
                  csr_matrix((r, n))])
    sumx = hstack([csr_matrix(np.ones((1, r))), csr_matrix((1, 2 * n + 1))])
    feas = hstack([Hs.T, csr_matrix((n, n + 1 + n))])
    slack = hstack([Hs.T, csr_matrix((n, n + 1)), csr_matrix(np.diag(M))])
    mult = hstack([csr_matrix((n, r)), I_n, csr_matrix((n, 1)), -L * I_n])
    S = csr_matrix((Hn > 0).astype(float))
    excl = hstack([csr_matrix((r, r + n + 1)), S])
    A = bmat([[kkt], [sumx], [feas], [slack], [mult], [excl]], format="csr")
    lb = np.concatenate([np.zeros(r), [1.0], np.zeros(n), np.full(n, -np.inf),
                         np.full(n, -np.inf), np.ones(r)])
    ub = np.concatenate([np.zeros(r), [1.0], np.full(n, np.inf), M,
                         np.zeros(n), np.full(r, np.inf)])
    mu_lo = 2.0 * (1.0 - tol) if decide_only else 0.0
    var_lb = np.concatenate([lo, np.zeros(n), [mu_lo], np.zeros(n)])
    var_ub = np.concatenate([hi, np.full(n, L), [2.0 * U], np.ones(n)])
    c = np.zeros(r + 2 * n + 1)
    c[r + n] = -0.5  # maximise mu / 2
    integrality = np.concatenate([np.zeros(r + n + 1), np.ones(n)])
    options = {"mip_rel_gap": 1e-9, "presolve": True}
    if time_limit is not None:
        remaining = time_limit - (time.perf_counter() - t0)
        options["time_limit"] = max(remaining, 0.01)
    res = milp(c, constraints=LinearConstraint(A, lb, ub),
               integrality=integrality, bounds=Bounds(var_lb, var_ub),
               options=options)
    out = {"x": None, "status": "optimal"}
    if res.status == 2:  # infeasible: no non-unit KKT point above mu_lo / 2
        out["q_lower"] = -np.inf
        out["q_upper"] = mu_lo / 2.0 if decide_only else -np.inf
        return out
    if res.status not in (0, 1):
        raise RuntimeError(f"HiGHS MILP failed: {res.message}")
    if res.status == 1:
        out["status"] = "time_limit"
    dual = getattr(res, "mip_dual_bound", None)
    if res.x is not None:
        x = ascend(Hn, _polish(Hn, res.x[:r]))
        out["x"] = x
        out["q_lower"] = float(x @ x) if _unit_index(x) < 0 else -np.inf
    else:
        out["q_lower"] = -np.inf
    if res.status == 0:
        out["q_upper"] = max(out["q_lower"], -res.fun) if res.x is not None else -np.inf
    else:
        out["q_upper"] = -float(dual) if dual is not None and np.isfinite(dual) else U
    return out


# -------------------------------------------------------------------- gurobi
def ssc_gurobi(Hn, tol, time_limit=None, threads=None, gap=1e-4, exclude_units=True):
    """Same program as a non-convex QP for Gurobi (``gurobipy``).

    ``Cutoff = 1 - tol`` lets Gurobi prune what cannot break SSC (the
    branch and bound's threshold), and ``MIPGap = gap`` matches its gap.
    ``exclude_units=False`` solves Gillis & Porumbescu's program as published,
    ``p* = max ||x||^2`` over ``P`` with ``Cutoff = 1 + tol``: it decides the
    first part of SSC only (``q_upper = 1 + tol`` when ``p* <= 1 + tol``).

    Returns the dict of :func:`ssc_milp`; ``status`` is ``"size over licence"``
    when the installed licence refuses the model's size.
    """
    try:
        import gurobipy as gp
        from gurobipy import GRB
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError(
            "method='gurobi' needs gurobipy: pip install gurobipy "
            "(or nmfkit[gurobi])") from exc
    r, n = Hn.shape
    lo, hi = box_bounds(Hn)
    try:
        env = gp.Env(empty=True)
        env.setParam("OutputFlag", 0)
        env.start()
        m = gp.Model(env=env)
        m.Params.NonConvex = 2
        m.Params.MIPGap = gap
        m.Params.Cutoff = 1.0 - tol
        if threads is not None:
            m.Params.Threads = threads
        if time_limit is not None:
            m.Params.TimeLimit = float(time_limit)
        x = m.addMVar(r, lb=lo, ub=hi, name="x")
        m.addConstr(Hn.T @ x >= 0)
        m.addConstr(x.sum() == 1)
        if exclude_units:
            z = m.addMVar(n, vtype=GRB.BINARY, name="z")
            for j in range(n):
                m.addGenConstrIndicator(z[j].item(), True, Hn[:, j] @ x,
                                        GRB.LESS_EQUAL, 0.0)
            m.addConstr((Hn > 0).astype(float) @ z >= 1)
        else:
            m.Params.Cutoff = 1.0 + tol
        m.setObjective(x @ x, GRB.MAXIMIZE)
        m.optimize()
    except gp.GurobiError as exc:
        if "size-limited" in str(exc) or getattr(exc, "errno", None) == 10010:
            return {"x": None, "status": "size over licence", "q_lower": -np.inf,
                    "q_upper": np.inf}
        raise
    out = {"x": None, "status": "optimal"}
    if m.Status in (GRB.INFEASIBLE, GRB.CUTOFF):  # nothing above the cutoff
        out["q_lower"], out["q_upper"] = -np.inf, m.Params.Cutoff
        env.dispose()
        return out
    if m.Status not in (GRB.OPTIMAL, GRB.TIME_LIMIT, GRB.SUBOPTIMAL):
        raise RuntimeError(f"Gurobi stopped with status {m.Status}")
    if m.Status != GRB.OPTIMAL:
        out["status"] = "time_limit"
    if m.SolCount > 0:
        xv = _polish(Hn, np.asarray(x.X, dtype=float))
        out["x"] = xv
        out["q_lower"] = float(xv @ xv) if _unit_index(xv) < 0 else -np.inf
    else:
        out["q_lower"] = -np.inf
    bound = m.ObjBound if m.Status != GRB.INFEASIBLE else -np.inf
    out["q_upper"] = float(bound) if np.isfinite(bound) else np.inf
    if m.Status == GRB.OPTIMAL and m.SolCount > 0:
        out["q_upper"] = max(out["q_lower"], min(out["q_upper"], float(m.ObjVal)))
    env.dispose()
    return out


# ----------------------------------------------------------------------- bnb
# tau = _RADIUS / (1 + Y): on x_k >= 1 - tau, ||x||^2 <= 1 - (2 - _RADIUS) t
_RADIUS = 1.9

class _PolytopeLP:
    """Repeated LPs over ``{x : A x >= 0, e^T x = 1, l <= x <= u}``.

    Uses scipy's bundled HiGHS object (private ``scipy.optimize._highspy``)
    so that each node re-solves from the previous basis (about 0.5 ms for
    ``r = 8, n = 100`` against about 10 ms through :func:`linprog`); falls
    back to :func:`linprog` when that module is not there.
    """

    def __init__(self, A):
        self.A = np.ascontiguousarray(A, dtype=float)
        m, r = self.A.shape
        self.r = r
        self.highs = None
        try:
            from scipy.optimize._highspy import _core as hc
        except ImportError:  # pragma: no cover - other scipy builds
            return
        try:
            import scipy.sparse as sp_

            h = hc._Highs()
            h.setOptionValue("output_flag", False)
            lp = hc.HighsLp()
            lp.num_col_, lp.num_row_ = r, m + 1
            inf = hc.kHighsInf
            lp.col_cost_ = np.zeros(r)
            lp.col_lower_ = np.full(r, -inf)
            lp.col_upper_ = np.full(r, inf)
            lp.row_lower_ = np.r_[np.zeros(m), 1.0]
            lp.row_upper_ = np.r_[np.full(m, inf), 1.0]
            Ac = sp_.csc_matrix(np.vstack([self.A, np.ones((1, r))]))
            lp.a_matrix_.format_ = hc.MatrixFormat.kColwise
            lp.a_matrix_.start_ = Ac.indptr
            lp.a_matrix_.index_ = Ac.indices
            lp.a_matrix_.value_ = Ac.data
            lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = r, m + 1
            lp.sense_ = hc.ObjSense.kMaximize
            if h.passModel(lp) != hc.HighsStatus.kOk:
                return
            self.hc, self.highs, self.inf = hc, h, inf
            self.idx = np.arange(r, dtype=np.int32)
        except Exception:  # pragma: no cover - private API changed
            self.highs = None

    def maximize(self, c, lo, hi):
        """``(value, x)`` of ``max c^T x``, or ``(-inf, None)`` if infeasible."""
        if self.highs is not None:
            h, inf = self.highs, self.inf
            lo_ = np.where(np.isfinite(lo), lo, -inf)
            hi_ = np.where(np.isfinite(hi), hi, inf)
            h.changeColsBounds(self.r, self.idx, lo_, hi_)
            h.changeColsCost(self.r, self.idx, np.asarray(c, dtype=float))
            h.run()
            status = h.getModelStatus()
            if status == self.hc.HighsModelStatus.kOptimal:
                x = np.array(h.getSolution().col_value)
                return float(c @ x), x
            if status == self.hc.HighsModelStatus.kInfeasible:
                return -np.inf, None
            # anything else (numerical trouble): fall through to linprog
        bounds = [(a if np.isfinite(a) else None, b if np.isfinite(b) else None)
                  for a, b in zip(lo, hi)]
        res = linprog(-np.asarray(c, dtype=float), A_ub=-self.A,
                      b_ub=np.zeros(self.A.shape[0]), A_eq=np.ones((1, self.r)),
                      b_eq=np.ones(1), bounds=bounds, method="highs")
        if res.status == 2:
            return -np.inf, None
        if res.status != 0:
            raise RuntimeError(f"LP failed in the SSC branch and bound: {res.message}")
        return float(-res.fun), res.x


def local_radius(Hn, k, tol):
    """How far from ``e_k`` the unit sphere cannot be reached inside ``P``.

    With ``A_k`` the columns that vanish in row ``k`` and
    ``P_k = {y : H[-k, A_k]^T y >= 0, e^T y = 1}``, every ``x`` of ``P`` is
    ``x_k = 1 - t`` and ``x_{-k} = t y`` with ``t >= 0`` and ``y`` in ``P_k``
    (when ``e`` is interior to ``cone(H[-k, A_k])``), so
    ``||x||^2 = 1 - 2t + t^2 (1 + ||y||^2)``. With ``Y >= max_{P_k} ||y||^2``
    (box LPs and the concave envelope), ``||x||^2 <= 1 - 0.1 t`` whenever
    ``t <= 1.9 / (1 + Y)``. Returns that ``tau``, or ``None``
    with a direction ``d`` (``x = e_k + s d`` has ``||x||^2 > 1`` for small
    ``s > 0``) when ``e`` is not interior to ``cone(H[-k, A_k])``.
    """
    r = Hn.shape[0]
    rest = np.delete(np.arange(r), k)
    A = Hn[np.ix_(rest, np.flatnonzero(Hn[k] == 0))]
    if A.shape[1] == 0:
        d_rest = np.zeros(r - 1)
        d_rest[:2] = (1.0, -1.0)
    else:
        An = A / A.sum(axis=0)  # columns are non-zero off row k
        d_rest = cone_direction(An, tol)
        if d_rest is None:
            lp = _PolytopeLP(An.T)
            free_lo, free_hi = np.full(r - 1, -np.inf), np.full(r - 1, np.inf)
            lo, hi = np.empty(r - 1), np.empty(r - 1)
            for i in range(r - 1):
                c = np.zeros(r - 1)
                c[i] = 1.0
                lo[i] = -lp.maximize(-c, free_lo, free_hi)[0]
                hi[i] = lp.maximize(c, free_lo, free_hi)[0]
            # Y >= ||y||^2 on P_k: the concave envelope of sum y_i^2 on the box
            val, y = lp.maximize(lo + hi, lo, hi)
            Y = float(val - lo @ hi) if y is not None else \
                float(np.sum(np.maximum(lo * lo, hi * hi)))
            return _RADIUS / (1.0 + Y), None
    # A^T d_rest >= 0 and e^T d_rest = 0: x = e_k + s d stays in P for small
    # s > 0 and ||x||^2 = 1 + s^2 ||d||^2 > 1
    d = np.zeros(r)
    d[rest] = d_rest
    return None, d


def ssc_bnb(Hn, tol, time_limit=None, max_nodes=None, gap=1e-4):
    """Spatial branch and bound with LP bounds (own implementation).

    Proves ``||x||^2 < 1`` on ``P`` minus small neighbourhoods of the unit
    vectors (:func:`local_radius`), or finds the maximiser. Node bound: the
    concave envelope of ``x_i^2`` on the node's box, ``(l_i + u_i) x_i - l_i
    u_i``, maximised by one LP.
    """
    import heapq

    r, n = Hn.shape
    t0 = time.perf_counter()
    out = {"x": None, "status": "optimal", "q_lower": -np.inf}
    best_x, best_f = None, -np.inf
    caps = np.full(r, np.inf)  # x_k <= caps_k on the part of P left to search
    lp = _PolytopeLP(Hn.T)
    for k in range(r):
        tau, d = local_radius(Hn, k, tol)
        if tau is None:
            # SSC fails next to e_k: step along d until a constraint blocks
            Hd = Hn.T @ d
            with np.errstate(divide="ignore", invalid="ignore"):
                steps = np.where(Hd < -1e-14, Hn[k] / -Hd, np.inf)
            s = min(float(steps.min()), 1.0)
            x = ascend(Hn, np.eye(r)[k] + 0.5 * s * d, lp=lp)
            if x @ x > best_f and _unit_index(x) < 0:
                best_x, best_f = x, float(x @ x)
        else:
            caps[k] = 1.0 - tau
    # root box on P' = P with x_k <= caps_k
    lo, hi = np.empty(r), np.empty(r)
    free = np.full(r, -np.inf)
    for i in range(r):
        c = np.zeros(r)
        c[i] = 1.0
        val, _ = lp.maximize(-c, free, caps)
        if val == -np.inf:  # P' empty: every point is near a unit vector
            out["q_upper"] = -np.inf if best_x is None else best_f
            out["x"] = best_x
            out["q_lower"] = best_f
            out["nodes"] = 0
            return out
        lo[i] = -val
        hi[i] = lp.maximize(c, free, caps)[0]

    # ||x||^2 <= 1 - 2 t_k + t_k^2 (1 + Y_k) with t_k = 1 - x_k, for every k
    # whose neighbourhood was proven; convex in t_k, so on a box its maximum
    # is at an end of [1 - u_k, 1 - l_k]
    proven = np.isfinite(caps)
    onepY = _RADIUS / np.where(proven, 1.0 - caps, 1.0)

    def local_bound(l, u):
        if not proven.any():
            return np.inf
        ends = np.stack([1.0 - u[proven], 1.0 - l[proven]])
        g = 1.0 - 2.0 * ends + ends * ends * onepY[proven]
        return float(g.max(axis=0).min())

    def solve(l, u):
        val, x = lp.maximize(l + u, l, u)
        if x is None:
            return -np.inf, None
        return min(val - float(l @ u), local_bound(l, u)), x

    threshold = 1.0 - tol  # below this a node cannot break SSC
    ub0, x0 = solve(lo, hi)
    heap = [(-ub0, 0, lo, hi, x0)]
    counter = 1
    nodes = 0
    timed_out = False
    while heap:
        neg_ub, _, l, u, x = heap[0]
        ub = -neg_ub
        target = max(threshold, best_f + gap * max(1.0, best_f))
        if ub <= target:
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            timed_out = True
            break
        if max_nodes is not None and nodes >= max_nodes:
            timed_out = True
            break
        heapq.heappop(heap)
        nodes += 1
        fx = float(x @ x)
        if fx > best_f and _unit_index(x) < 0:
            y = ascend(Hn, x, lp=lp) if fx > threshold - 0.1 else x
            if y @ y > best_f and _unit_index(y) < 0:
                best_x, best_f = y, float(y @ y)
        slack = (u - x) * (x - l)  # envelope minus x_i^2 at the LP point
        i = int(np.argmax(slack))
        w = u[i] - l[i]
        cut = (min(max(x[i], l[i] + 0.2 * w), u[i] - 0.2 * w)
               if slack[i] > 1e-14 else 0.5 * (l[i] + u[i]))
        for side in (0, 1):
            l2, u2 = l.copy(), u.copy()
            if side == 0:
                u2[i] = cut
            else:
                l2[i] = cut
            ub2, x2 = solve(l2, u2)
            if x2 is not None and ub2 > max(threshold, best_f + gap * max(1.0, best_f)):
                heapq.heappush(heap, (-ub2, counter, l2, u2, x2))
                counter += 1
    upper = -heap[0][0] if heap else -np.inf
    out["x"] = best_x
    out["q_lower"] = best_f
    if timed_out:
        out["status"] = "time_limit"
        out["q_upper"] = max(upper, best_f)
    else:
        # proved: nothing on P' exceeds max(threshold, best_f) (+ tol)
        out["q_upper"] = (best_f + gap * max(1.0, best_f)
                          if best_f >= threshold else threshold)
    out["nodes"] = nodes
    return out
