"""nmfkit.datasets.load_movielens: the ml-100k format and its canonical folds."""

import numpy as np
import pytest
import scipy.sparse as sp

from nmfkit.datasets import load_movielens

N_RATINGS = 100_000


def _write_udata(folder, n=N_RATINGS, seed=0, n_users=60, n_items=2000):
    """A synthetic u.data in the ml-100k format (distinct user/item pairs)."""
    rng = np.random.RandomState(seed)
    pairs = rng.choice(n_users * n_items, size=n, replace=False)
    users, items = np.divmod(pairs, n_items)
    ratings = rng.randint(1, 6, size=n)
    stamps = rng.randint(874724710, 893286638, size=n)
    lines = [f"{u + 1}\t{i + 1}\t{r}\t{t}" for u, i, r, t in
             zip(users, items, ratings, stamps)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    return lines


def _write_grouplens_folds(folder, lines, folds):
    """u{i}.base / u{i}.test as GroupLens made them (sorted by user, item)."""
    def key(line):
        u, i = line.split("\t")[:2]
        return int(u), int(i)

    for fold in folds:
        lo, hi = (fold - 1) * 20000, fold * 20000
        test = sorted(lines[lo:hi], key=key)
        base = sorted(lines[:lo] + lines[hi:], key=key)
        (folder / f"u{fold}.test").write_text("\n".join(test) + "\n")
        (folder / f"u{fold}.base").write_text("\n".join(base) + "\n")


@pytest.mark.slow
def test_canonical_folds_of_the_shared_ml100k(shared_data_dir):
    folder = shared_data_dir / "movielens" / "ml-100k"
    if not (folder / "u.data").is_file():
        pytest.skip(f"ml-100k not found in {folder}")
    full = load_movielens(folder)
    assert full.data.shape == (943, 1682)
    assert full.data.nnz == N_RATINGS
    assert sp.issparse(full.data) and full.data.format == "csr"
    assert set(np.unique(full.data.data)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    np.testing.assert_array_equal(full.user_ids, np.arange(1, 944))
    # the first line of u.data is user 196, item 242, rating 3
    assert full.data[195, 241] == 3.0
    seen = sp.csr_matrix(full.data.shape)
    for fold in range(1, 6):
        ml = load_movielens(folder, fold=fold)
        assert ml.data.nnz == 80_000 and ml.test.nnz == 20_000
        assert ml.data.shape == ml.test.shape == (943, 1682)
        assert ml.data.multiply(ml.test).nnz == 0  # disjoint
        assert abs(ml.data + ml.test - full.data).sum() == 0
        rows, cols, vals = ml.test_pairs
        np.testing.assert_array_equal(np.asarray(ml.test[rows, cols]).ravel(), vals)
        seen = seen + ml.test
    assert abs(seen - full.data).sum() == 0  # the five test sets cover u.data
    assert load_movielens(folder, fold=1).test[195, 241] == 3.0  # line 1 is in u1.test


@pytest.mark.slow
def test_existing_fold_files_and_rebuilt_folds_agree(tmp_path):
    lines = _write_udata(tmp_path / "rebuilt")
    with_files = tmp_path / "with_files"
    _write_udata(with_files)
    _write_grouplens_folds(with_files, lines, folds=(1, 4))
    for fold in (1, 4):
        a = load_movielens(tmp_path / "rebuilt", fold=fold)
        b = load_movielens(with_files, fold=fold)
        assert a.source == "rebuilt from u.data"
        assert b.source == f"u{fold}.base/u{fold}.test"
        assert (a.data != b.data).nnz == 0 and (a.test != b.test).nnz == 0
        assert a.test.nnz == 20_000 and a.data.nnz == 80_000


def test_missing_path_and_bad_fold(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_movielens(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no u.data"):
        load_movielens(tmp_path)
    (tmp_path / "u.data").write_text("1\t1\t5\t881250949\n")
    for bad in (0, 6, "1", True):
        with pytest.raises(ValueError, match="fold must be"):
            load_movielens(tmp_path, fold=bad)


@pytest.mark.parametrize("content, message", [
    ("1\t1\t5\t881250949\n2\t1\tfive\t881250949\n", "malformed line 2"),
    ("1\t1\t5\t881250949\n2\t1\t4\n", "malformed line 2"),  # cut inside a line
    ("1\t1\t5\t881250949\n2\t1\t-4\t881250949\n", "malformed line 2"),
    ("0\t1\t5\t881250949\n", "below 1"),
    ("1\t1\t5\t881250949\n1\t1\t4\t881250950\n", "twice"),
    ("", "empty"),
])
def test_malformed_files_are_rejected(tmp_path, content, message):
    (tmp_path / "u.data").write_text(content)
    with pytest.raises(ValueError, match=message):
        load_movielens(tmp_path)


def test_truncated_file_is_detected(tmp_path):
    lines = _write_udata(tmp_path, n=N_RATINGS)
    (tmp_path / "u.data").write_text("\n".join(lines[:99_000]) + "\n")
    # without u.info, the full data loads but the folds cannot be rebuilt
    assert load_movielens(tmp_path).data.nnz == 99_000
    with pytest.raises(ValueError, match="truncated"):
        load_movielens(tmp_path, fold=2)
    # with u.info, the count itself is checked
    (tmp_path / "u.info").write_text("60 users\n2000 items\n100000 ratings\n")
    with pytest.raises(ValueError, match="u.info says 100000"):
        load_movielens(tmp_path)
