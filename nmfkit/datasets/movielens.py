"""MovieLens 100k ratings (the ``ml-100k`` folder of GroupLens) and its folds.

nmfkit never ships or downloads the data (its licence forbids redistribution):
:func:`load_movielens` reads a local copy from an explicit path.
"""

import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch

__all__ = ["load_movielens"]

_FOLD_SIZE = 20_000
_N_FOLDS = 5
_LINE = re.compile(rb"[ \t]*(\d+)[ \t]+(\d+)[ \t]+(\d+(?:\.\d+)?)[ \t]+(\d+)[ \t]*\r?")
# the whole file: lines of four numbers (no groups: a fast validity check)
_FILE = re.compile(
    rb"(?:[ \t]*\d+[ \t]+\d+[ \t]+\d+(?:\.\d+)?[ \t]+\d+[ \t]*\r?\n)*\s*"
)


def _read_ratings(path):
    """``(users, items, ratings, timestamps)`` of a ``user item rating ts`` file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileNotFoundError(
            f"cannot read MovieLens ratings file {path}: {exc}") from exc
    lines = raw.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"MovieLens ratings file {path} is empty.")
    fields = _parse_fast(raw, len(lines))
    if fields is None:
        fields = _parse_lines(lines, path)
    users = fields[:, 0].astype(np.int64)
    items = fields[:, 1].astype(np.int64)
    if users.min() < 1 or items.min() < 1:
        raise ValueError(
            f"MovieLens ratings file {path} has a user or item id below 1; "
            "ml-100k ids start at 1."
        )
    return users, items, fields[:, 2], fields[:, 3].astype(np.int64)


def _parse_fast(raw, n_lines):
    """All fields at once, or None unless every line is four numbers."""
    if _FILE.fullmatch(raw if raw.endswith(b"\n") else raw + b"\n") is None:
        return None
    return np.array(raw.split()).astype(np.float64).reshape(n_lines, 4)


def _parse_lines(lines, path):
    """Line by line, to name the first malformed line."""
    fields = np.empty((len(lines), 4), dtype=np.float64)
    for number, line in enumerate(lines, start=1):
        match = _LINE.fullmatch(line)
        if match is None:
            shown = line[:60].decode("ascii", "replace")
            raise ValueError(
                f"malformed line {number} of MovieLens ratings file {path}: "
                f"{shown!r}; expected 'user<TAB>item<TAB>rating<TAB>timestamp' "
                "with non-negative integers (ml-100k format)."
            )
        fields[number - 1] = [float(g) for g in match.groups()]
    return fields


def _read_info(folder):
    """Numbers of users, items and ratings from ``u.info`` (None when absent)."""
    info = folder / "u.info"
    if not info.is_file():
        return None, None, None
    counts = {}
    for line in info.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            counts[parts[1]] = int(parts[0])
    return counts.get("users"), counts.get("items"), counts.get("ratings")


def _matrix(users, items, ratings, shape):
    X = sp.csr_matrix((ratings, (users - 1, items - 1)), shape=shape)
    X.sum_duplicates()
    return X


def _check_duplicates(users, items, where):
    key = users * (items.max() + 1) + items
    if np.unique(key).size != key.size:
        raise ValueError(f"{where} rates some (user, item) pair twice.")


def load_movielens(path, fold=None):
    """Load the MovieLens 100k ratings, optionally split into a canonical fold.

    Reads the ``ml-100k`` format: ``u.data`` holds one rating per line,
    ``user<TAB>item<TAB>rating<TAB>timestamp``, ids starting at 1.
    ``fold=i`` (1..5) returns the canonical 80/20 split ``u{i}.base`` /
    ``u{i}.test`` of GroupLens: read from those files when the folder has
    them, otherwise rebuilt from ``u.data`` the way GroupLens made them
    (``u{i}.test`` is lines ``(i-1)*20000+1 .. i*20000`` of ``u.data``, and
    ``u{i}.base`` the other 80,000 lines), which gives the same ratings.

    Parameters
    ----------
    path : str or path-like
        The ``ml-100k`` folder (or its ``u.data`` file).
    fold : {None, 1, 2, 3, 4, 5}, default=None
        ``None``: all ratings in ``data``. ``i``: the canonical fold ``i``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        * ``data``: CSR matrix (n_users, n_items) of float ratings, unrated
          entries not stored (all ratings, or the training part of the fold);
        * ``test``: CSR matrix of the fold's test ratings (``fold`` only);
        * ``user_ids``, ``item_ids``: the MovieLens id of each row / column
          (``row + 1``, ``column + 1``);
        * ``test_pairs``: ``(rows, columns, ratings)`` arrays of the test
          ratings in file order (``fold`` only);
        * ``fold``, ``source``: the fold and where it came from
          (``"u1.base/u1.test"`` or ``"rebuilt from u.data"``), ``DESCR``.

        Rows and columns span every user and item of ``u.data`` (or of
        ``u.info`` when present), so the training and test matrices of a
        fold have the same shape even where a user or item has no training
        rating.

    Raises
    ------
    FileNotFoundError
        The path or ``u.data`` does not exist.
    ValueError
        A malformed line, a duplicate rating, a ``u.data`` with another number
        of ratings than ``u.info`` states or, when rebuilding a fold, fewer
        than the 100,000 ratings the folds need (a truncated file), or a bad
        ``fold``.

    Examples
    --------
    >>> from nmfkit.datasets import load_movielens
    >>> path = "../shared/data/movielens/ml-100k"
    >>> ml = load_movielens(path, fold=1)  # doctest: +SKIP
    >>> ml.data.shape, ml.data.nnz, ml.test.nnz  # doctest: +SKIP
    ((943, 1682), 80000, 20000)
    """
    valid = range(1, _N_FOLDS + 1)
    if fold is not None and (isinstance(fold, bool) or fold not in valid):
        raise ValueError(f"fold must be None or one of 1..{_N_FOLDS}; got {fold!r}.")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"MovieLens folder {path} does not exist. nmfkit does not ship the "
            "data: download ml-100k from GroupLens and pass its folder."
        )
    folder = path if path.is_dir() else path.parent
    data_file = path if path.is_file() else folder / "u.data"
    if not data_file.is_file():
        raise FileNotFoundError(f"no u.data in {folder}: not an ml-100k folder.")
    users, items, ratings, _ = _read_ratings(data_file)
    _check_duplicates(users, items, str(data_file))
    n_users, n_items, n_ratings = _read_info(folder)
    if n_ratings is not None and users.size != n_ratings and path.is_dir():
        raise ValueError(
            f"{data_file} has {users.size} ratings but u.info says {n_ratings} "
            "(truncated or modified file?)."
        )
    n_users = max(n_users or 0, int(users.max()))
    n_items = max(n_items or 0, int(items.max()))
    shape = (n_users, n_items)
    bunch = Bunch(
        user_ids=np.arange(1, n_users + 1),
        item_ids=np.arange(1, n_items + 1),
        fold=fold,
        DESCR=(
            "MovieLens 100k (GroupLens Research): ratings 1-5 of movies by users. "
            "Research use only, no redistribution; cite Harper & Konstan (2015), "
            "ACM TiiS 5(4): 19."
        ),
    )
    if fold is None:
        bunch.data = _matrix(users, items, ratings, shape)
        bunch.source = str(data_file.name)
        return bunch

    base_file, test_file = folder / f"u{fold}.base", folder / f"u{fold}.test"
    if base_file.is_file() and test_file.is_file():
        tr = _read_ratings(base_file)
        te = _read_ratings(test_file)
        source = f"u{fold}.base/u{fold}.test"
    else:
        if users.size < _FOLD_SIZE * _N_FOLDS:
            raise ValueError(
                f"{data_file} has {users.size} ratings; rebuilding the canonical "
                f"folds needs the {_FOLD_SIZE * _N_FOLDS} of ml-100k (truncated file?)."
            )
        test = np.zeros(users.size, dtype=bool)
        test[(fold - 1) * _FOLD_SIZE:fold * _FOLD_SIZE] = True
        tr = (users[~test], items[~test], ratings[~test])
        te = (users[test], items[test], ratings[test])
        source = "rebuilt from u.data"
    for part, name in ((tr, "training part"), (te, "test part")):
        if part[0].max() > n_users or part[1].max() > n_items:
            raise ValueError(f"the {name} of fold {fold} has ids beyond u.data's.")
    _check_duplicates(*tr[:2], f"the training part of fold {fold}")
    _check_duplicates(*te[:2], f"the test part of fold {fold}")
    bunch.data = _matrix(tr[0], tr[1], tr[2], shape)
    bunch.test = _matrix(te[0], te[1], te[2], shape)
    bunch.test_pairs = (te[0] - 1, te[1] - 1, np.asarray(te[2], dtype=np.float64))
    bunch.source = source
    return bunch
