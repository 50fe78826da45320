"""Row-block threaded sparse products: bitwise the single product."""

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from nmfkit._core import parallel
from nmfkit._core.hals import fit_hals
from nmfkit._core.parallel import RowBlocks, product_threads


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_blocks_give_the_same_product_bitwise(threads):
    rng = np.random.default_rng(0)
    A = sp.random(2000, 300, density=0.2, random_state=0, format="csr")
    # rows of very different lengths: empty rows, repeated rows
    A = sp.vstack([A, sp.csr_matrix((5, 300)), A[:10]]).tocsr()
    B = rng.random((8, 300)).T  # a transposed (F-ordered) view, as the solver passes
    blocks = RowBlocks(A, threads=threads)
    assert blocks.blocks is not None and len(blocks.blocks) > 1
    expected = np.asarray(A @ B)
    np.testing.assert_array_equal(blocks.matmul(B), expected)
    out = np.empty_like(expected)
    assert blocks.matmul(B, out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_small_matrices_stay_single_threaded():
    A = sp.random(50, 40, density=0.1, random_state=0, format="csr")
    assert RowBlocks(A, threads=4).blocks is None


def test_threads_follow_the_blas_limit():
    with threadpool_limits(limits=1, user_api="blas"):
        assert product_threads() == 1
    assert 1 <= product_threads()


def test_threaded_hals_is_bitwise_the_serial_one(monkeypatch):
    rng = np.random.default_rng(1)
    X = sp.random(400, 300, density=0.9, random_state=1, format="csr")
    W0, H0 = rng.random((400, 5)), rng.random((5, 300))
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(parallel, "product_threads", lambda t=threads: t)
        monkeypatch.setattr(parallel, "MIN_NNZ", 1000)
        W, H = W0.copy(), H0.copy()
        fit_hals(X, W, H, tol=0, max_iter=15)
        results.append((W, H))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
