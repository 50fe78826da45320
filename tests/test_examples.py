"""The scripts of examples/ run and do what they say.

Each example listed here is run with :func:`runpy.run_path` (as
``__main__``), in its small mode (``NMFKIT_EXAMPLE_SMALL=1``).
"""

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


def _run_example(name, monkeypatch):
    path = EXAMPLES_DIR / name
    assert path.is_file(), f"examples/{name} is missing"
    monkeypatch.setenv("NMFKIT_EXAMPLE_SMALL", "1")
    return runpy.run_path(str(path), run_name="__main__")


@pytest.mark.slow
def test_gridsearch_rank_finds_the_planted_rank(monkeypatch, capsys):
    namespace = _run_example("gridsearch_rank.py", monkeypatch)
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


@pytest.mark.slow
def test_plot_rank_selection_finds_the_planted_rank(monkeypatch, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    namespace = _run_example("plot_rank_selection.py", monkeypatch)
    out = capsys.readouterr().out
    assert namespace["planted"].n_components_ == namespace["true_k"], out
    digits_k = namespace["nmfk_digits"].n_components_
    assert 2 <= digits_k <= 8, out


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


@pytest.mark.slow
def test_movielens_recommend_example(monkeypatch, capsys, shared_data_dir):
    if not (shared_data_dir / "movielens" / "ml-100k" / "u.data").is_file():
        pytest.skip("ml-100k not found in the shared data")
    namespace = _run_example("movielens_recommend.py", monkeypatch)
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
