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
def test_dask_out_of_core_example(monkeypatch, capsys):
    pytest.importorskip("distributed", reason="the Dask extra (nmfkit[dask]) is absent")
    namespace = _run_example("dask_out_of_core.py", monkeypatch)
    out = capsys.readouterr().out
    # the planted components are recovered from the blocks read off disk
    assert namespace["similarity"].min() > 0.95, out
    W = namespace["W"]
    assert W.chunks[0] == namespace["X"].chunks[0]
    # the rank search on the cluster chooses the in-memory (and planted) rank
    assert namespace["on_cluster"].n_components_ == namespace["in_memory"].n_components_
    assert namespace["on_cluster"].n_components_ == namespace["k_small"], out
