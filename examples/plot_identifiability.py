"""
==========================================================================
Is my factorization unique? The sufficiently scattered condition for r = 3
==========================================================================

An NMF ``X = W H`` is essentially unique when both factors are
*sufficiently scattered*. For ``r = 3`` the condition can be drawn: cut every
cone with the plane ``x1 + x2 + x3 = 1``, which shows the non-negative
orthant as a triangle.

* Left column (primal): ``cone(H)`` (the convex hull of ``H``'s normalised
  columns, blue) must contain the inscribed disc (the slice of the cone
  ``C = {x : e^T x >= sqrt(r - 1) ||x||}``, orange).
* Right column (dual): equivalently, the dual cone ``{x : H^T x >= 0}`` (blue)
  must lie in the circumscribed disc (``{x : e^T x >= ||x||}``), touching its
  circle only at the triangle's corners, the unit vectors.

:func:`nmfkit.identifiability.check_ssc` decides this exactly for any ``r``
by maximising ``||x||^2`` over the dual slice. When it fails, its certificate
``x`` (red) is a point of the dual slice outside the circle: a direction in
which the factor can be moved without leaving the non-negative orthant.
"""

# %%
# Two factors: one scattered over the edges of the triangle (zeros in every
# column), one dense and positive.
import matplotlib.pyplot as plt
import numpy as np
from scipy.spatial import ConvexHull, HalfspaceIntersection

from nmfkit.identifiability import check_ssc

rng = np.random.default_rng(0)
edge_points = []
for i, j in ((0, 1), (1, 2), (2, 0)):
    for a in (0.12, 0.3, 0.5, 0.7, 0.88):
        col = np.zeros(3)
        col[i], col[j] = a, 1 - a
        edge_points.append(col)
H_scattered = np.column_stack(edge_points + list(rng.dirichlet([1, 1, 1], 10)))
H_dense = rng.dirichlet([4, 4, 4], 40).T

results = {name: check_ssc(H) for name, H in
           [("scattered", H_scattered), ("dense", H_dense)]}
for name, res in results.items():
    print(f"{name}: {res.message}")

# %%
# Plane coordinates: an orthonormal basis of ``{x : sum(x) = 0}``.
Q = np.array([[1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]).T
Q /= np.linalg.norm(Q, axis=0)


def to_plane(points):
    points = np.atleast_2d(points)
    return (points - 1.0 / 3) @ Q


def dual_slice(H):
    """Corners of {x : H^T x >= 0, sum(x) = 1} in plane coordinates."""
    Hn = H / H.sum(axis=0)
    halfspaces = np.column_stack([-(Hn.T @ Q), -Hn.sum(axis=0) / 3])
    corners = HalfspaceIntersection(halfspaces, np.zeros(2)).intersections
    hull = ConvexHull(corners)
    return corners[hull.vertices]


triangle = to_plane(np.eye(3))
t = np.linspace(0, 2 * np.pi, 200)
circle = np.column_stack([np.cos(t), np.sin(t)])
r_in, r_out = np.sqrt(1 / 6), np.sqrt(2 / 3)

fig, axes = plt.subplots(2, 2, figsize=(8, 8))
for row, (name, H) in enumerate([("scattered", H_scattered), ("dense", H_dense)]):
    res = results[name]
    pts = to_plane((H / H.sum(axis=0)).T)
    hull = pts[ConvexHull(pts).vertices]
    ax = axes[row, 0]
    ax.fill(*triangle.T, color="0.93", zorder=0)
    ax.fill(*hull.T, color="tab:blue", alpha=0.3, label="cone(H)")
    ax.plot(*pts.T, ".", color="tab:blue", ms=4)
    ax.plot(*(r_in * circle).T, color="tab:orange", label="C (inscribed)")
    ax.set_title(f"{name} H: primal, SSC {'holds' if res.holds else 'fails'}")
    ax = axes[row, 1]
    dual = dual_slice(H)
    ax.fill(*triangle.T, color="0.93", zorder=0)
    ax.fill(*dual.T, color="tab:blue", alpha=0.3, label="dual cone of H")
    ax.plot(*(r_out * circle).T, color="tab:green", label="C* (circumscribed)")
    if res.x is not None:
        ax.plot(*to_plane(res.x).T, "o", color="tab:red",
                label=f"certificate, ||x||² = {res.value:.2f}")
    ax.set_title(f"{name} H: dual, p* = {res.value:.3g}")
    for ax in axes[row]:
        ax.set_aspect("equal")
        ax.axis("off")
        ax.legend(loc="lower center", fontsize=7, bbox_to_anchor=(0.5, -0.12))
fig.tight_layout()
plt.show()
