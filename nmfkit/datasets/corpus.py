r"""Generated document-word corpora with planted topics (for topic models).

:func:`make_topic_corpus` draws a bag-of-words corpus from a Poisson version
of latent Dirichlet allocation whose word frequencies follow Zipf's law, the
way the vocabulary of a real corpus does after the usual
``CountVectorizer(min_df=..., max_df=...)`` trimming. The planted topics, the
document-topic proportions and each document's dominant topic come back with
the counts, so a topic model can be checked against the truth (NMI of the
dominant topics, cosine of matched topics, the number of topics found).
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_topic_corpus"]


@validate_params(
    {
        "n_documents": [Interval(Integral, 1, None, closed="left")],
        "n_words": [Interval(Integral, 1, None, closed="left")],
        "n_topics": [Interval(Integral, 1, None, closed="left")],
        "doc_length": [Interval(Real, 0, None, closed="neither")],
        "zipf_exponent": [Interval(Real, 0, None, closed="left")],
        "topic_boost": [Interval(Real, 1, None, closed="left")],
        "doc_topic_prior": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_topic_corpus(n_documents=4000, n_words=3000, n_topics=5, *,
                      doc_length=50.0, zipf_exponent=0.8, topic_boost=100.0,
                      doc_topic_prior=0.1, random_state=None):
    r"""Word counts of documents drawn from planted topics (Poisson LDA).

    The words are ranked by a Zipf background frequency
    :math:`p_w \propto (w + 1)^{-s}` and each word is given one *home* topic at
    random. Topic :math:`t` draws word :math:`w` with probability

    .. math::

        \phi_{tw} \propto p_w \, (1 + (b_w - 1) [\mathrm{home}(w) = t]),
        \qquad b_w = 1 + (b - 1) \frac{w}{n_{words} - 1}

    (``b`` = ``topic_boost``: a topic favours its own words, the more so the
    rarer they are; all topics share the frequent words, and every topic
    keeps the Zipf shape). Document
    :math:`d` has topic proportions :math:`\theta_d \sim
    \mathrm{Dirichlet}(\alpha)` (``doc_topic_prior``; small :math:`\alpha`
    gives mostly one topic per document), a length
    :math:`L_d = \ell\, g_d` with :math:`g_d \sim \mathrm{Gamma}(2, 1/2)`
    (mean ``doc_length`` :math:`\ell`, lengths vary as those of real texts
    do) and counts :math:`X_{dw} \sim \mathrm{Poisson}(L_d (\theta_d
    \Phi)_w)`, independent. Conditionally on its total, a row is the
    multinomial of LDA.

    Parameters
    ----------
    n_documents : int, default=4000
        Number of documents (rows).
    n_words : int, default=3000
        Size of the vocabulary (columns), ordered by background frequency.
    n_topics : int, default=5
        Number of planted topics.
    doc_length : float, default=50.0
        Mean number of word occurrences (tokens) per document.
    zipf_exponent : float, default=0.8
        Exponent :math:`s` of the background frequencies (0: uniform).
    topic_boost : float, default=100.0
        Factor :math:`b \ge 1` by which a topic favours its rarest home
        word; the factor grows linearly with the frequency rank, from 1 for
        the most frequent word (shared by all topics, as function words are)
        to ``b`` (1: every topic is the background, no structure).
    doc_topic_prior : float, default=0.1
        Symmetric Dirichlet parameter :math:`\alpha` of the document-topic
        proportions.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_documents, n_words)
        Word counts (float64, only non-zero counts stored). Empty documents
        (possible for very short ``doc_length``) are kept as empty rows.
    labels : ndarray of int of shape (n_documents,)
        Dominant topic of each document (``argmax`` of its proportions).
    topics : ndarray of shape (n_topics, n_words)
        The planted topic-word distributions :math:`\Phi` (rows sum to 1).
    proportions : ndarray of shape (n_documents, n_topics)
        The document-topic proportions :math:`\theta`.

    References
    ----------
    .. [1] Blei, D. M., Ng, A. Y. and Jordan, M. I. "Latent Dirichlet
       allocation." Journal of Machine Learning Research 3 (2003).
    .. [2] Zipf, G. K. "Human behavior and the principle of least effort."
       Addison-Wesley (1949).

    Examples
    --------
    >>> from nmfkit.datasets import make_topic_corpus
    >>> X, labels, topics, proportions = make_topic_corpus(
    ...     n_documents=200, n_words=300, n_topics=3, random_state=0)
    >>> X.shape, topics.shape, proportions.shape
    ((200, 300), (3, 300), (200, 3))
    >>> sorted(set(labels.tolist()))
    [0, 1, 2]
    """
    rng = check_random_state(random_state)
    background = (np.arange(n_words) + 1.0) ** (-float(zipf_exponent))
    home = rng.randint(0, n_topics, n_words)
    # frequent words are shared by the topics, rare ones specific to one
    boost = 1.0 + (float(topic_boost) - 1.0) * np.linspace(0.0, 1.0, n_words)
    topics = np.tile(background, (n_topics, 1))
    topics[home, np.arange(n_words)] *= boost
    topics /= topics.sum(axis=1, keepdims=True)
    proportions = rng.dirichlet(np.full(n_topics, float(doc_topic_prior)),
                                n_documents)
    labels = np.argmax(proportions, axis=1)
    lengths = float(doc_length) * rng.gamma(2.0, 0.5, n_documents)
    # rows in blocks of ~1M rates: bounded memory for large corpora
    step = max(1, 2**20 // n_words)
    blocks = []
    for start in range(0, n_documents, step):
        stop = min(n_documents, start + step)
        rates = (lengths[start:stop, None] * proportions[start:stop]) @ topics
        blocks.append(sp.csr_matrix(rng.poisson(rates).astype(np.float64)))
    X = sp.vstack(blocks, format="csr")
    return X, labels, topics, proportions
