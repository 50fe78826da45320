"""
=======================================================
Communities of Zachary's karate club with symmetric NMF
=======================================================

Zachary's karate club is a friendship network of 34 members of a university
karate club, recorded before the club split in two after a dispute between
its instructor (Mr. Hi, node 0) and its administrator (the Officer, node 33).
:class:`nmfkit.SymNMF` factorizes the adjacency matrix as ``A ~ W W^T``; row
``i`` of ``W`` is member ``i``'s membership in the two communities. We compare
the communities with the two factions the club actually split into, choose
the number of communities by edge cross-validation, and draw the graph
coloured by community (the size of each node is its membership strength).

Needs networkx (``pip install "nmfkit[graph]"``) for the data and the layout.
"""

# %%
# Fit two communities
# -------------------
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
from sklearn.model_selection import GridSearchCV

from nmfkit import SymNMF
from nmfkit.community import EdgeSplit
from nmfkit.datasets.graphs import load_karate_club

A, factions, graph = load_karate_club()
model = SymNMF(n_components=2, n_init=5, random_state=0).fit(A)
labels = model.labels_
# match community numbers to faction numbers (the factorization's order is arbitrary)
if np.mean(labels == factions) < 0.5:
    labels = 1 - labels
wrong = np.flatnonzero(labels != factions)
print(f"members placed with the faction they joined: {34 - wrong.size} of 34; "
      f"others: {wrong.tolist()}")

# %%
# How many communities does the graph support?
# --------------------------------------------
# ``EdgeSplit`` folds keep every member and hide random pairs of members
# (friends and non-friends) from the fit; the score is how well ``W W^T``
# predicts the hidden pairs. On this graph it prefers four communities to
# two: each faction has a tight core and a looser fringe (Louvain's
# modularity also splits the club into four). The two-way split is what
# the club did, not what the friendships alone single out.
search = GridSearchCV(SymNMF(n_init=3, random_state=0),
                      {"n_components": [1, 2, 3, 4, 5, 6]}, cv=EdgeSplit(5)).fit(A)
scores = search.cv_results_["mean_test_score"]
for k, s in zip(search.param_grid["n_components"], scores):
    print(f"k = {k}: held-out score {s:.4f}")
print("best number of communities:", search.best_params_["n_components"])

# %%
# Draw the graph coloured by community
# ------------------------------------
W = model.components_.T
strength = W.max(axis=1)
pos = nx.spring_layout(graph, seed=3)
fig, axes = plt.subplots(1, 2, figsize=(11, 5))
nx.draw_networkx_edges(graph, pos, ax=axes[0], alpha=0.3)
nx.draw_networkx_nodes(graph, pos, ax=axes[0], node_color=labels, cmap="coolwarm",
                       node_size=80 + 600 * strength / strength.max(),
                       edgecolors=["black" if i in wrong else "white"
                                   for i in range(34)],
                       linewidths=2)
nx.draw_networkx_labels(graph, pos, ax=axes[0], font_size=7)
axes[0].set_title("SymNMF communities (black ring: not the faction joined)")
axes[0].axis("off")
axes[1].plot(search.param_grid["n_components"], scores, "o-")
axes[1].axvline(search.best_params_["n_components"], color="gray", ls="--")
axes[1].set_xlabel("number of communities k")
axes[1].set_ylabel("held-out score (edge cross-validation)")
axes[1].set_title("Choosing k")
fig.tight_layout()
plt.show()
