"""Synthetic cohorts of variant counts with planted pathway groups.

Stand-in for germline or somatic variant data (such as TCGA's, which is
controlled-access): samples x genes counts, a binary pathways x genes
membership map, and disease classes driven by groups of pathways, with the
group each pathway belongs to returned as ground truth.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_pathway_cohort"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_genes": [Interval(Integral, 10, None, closed="left")],
        "n_pathways": [Interval(Integral, 2, None, closed="left")],
        "n_groups": [Interval(Integral, 1, None, closed="left")],
        "pathways_per_group": [Interval(Integral, 1, None, closed="left")],
        "pathway_size": [Interval(Integral, 2, None, closed="left")],
        "mutation_rate": [Interval(Real, 0, 1, closed="neither")],
        "effect": [Interval(Real, 0, None, closed="left")],
        "noise_gene_fraction": [Interval(Real, 0, 1, closed="left")],
        "sparse": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_pathway_cohort(n_samples=400, n_genes=600, n_pathways=80, *, n_groups=3,
                        pathways_per_group=4, pathway_size=20, mutation_rate=0.05,
                        effect=4.0, noise_gene_fraction=0.1, sparse=False,
                        random_state=None):
    """Generate variant counts whose disease classes are driven by pathway groups.

    The genes are covered by ``n_pathways`` pathways of about
    ``pathway_size`` genes (log-normal sizes), drawn at random so that they
    overlap; a fraction ``noise_gene_fraction`` of the genes is in no pathway.
    ``n_groups`` groups of ``pathways_per_group`` pathways each share a core
    of genes (overlapping pathways of one mechanism). The samples fall into
    ``n_groups + 1`` classes: class 0 (controls) and one disease class per
    group. Every gene has a baseline mutation rate (log-normal around
    ``mutation_rate``, so a few percent of entries are non-zero); in the
    samples of disease class ``c``, the genes of the pathways of group
    ``c - 1`` are mutated ``effect`` times more often, each sample hitting a
    random subset of them -- the signal is weak in any one gene and strong
    in the pathway group, as in germline studies. Counts are 1 or 2 (one or
    two alleles).

    Parameters
    ----------
    n_samples : int, default=400
        Number of samples (balanced classes).
    n_genes : int, default=600
        Number of genes.
    n_pathways : int, default=80
        Number of pathways (at least ``n_groups * pathways_per_group``).
    n_groups : int, default=3
        Number of planted pathway groups (= disease classes).
    pathways_per_group : int, default=4
        Pathways in each group.
    pathway_size : int, default=20
        Median number of genes of a pathway.
    mutation_rate : float, default=0.05
        Median baseline probability that a gene carries a variant in a sample.
    effect : float, default=4.0
        Multiplier of the mutation rate of a group's genes in its class.
    noise_gene_fraction : float, default=0.1
        Fraction of genes in no pathway (mutated at the baseline rate only).
    sparse : bool, default=False
        Return ``data`` as a CSR matrix.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    cohort : :class:`~sklearn.utils.Bunch`
        ``data`` (n_samples, n_genes) float64 counts (CSR if ``sparse``);
        ``target`` (n_samples,) class labels ``0 .. n_groups``;
        ``pathways`` (n_pathways, n_genes) binary CSR matrix;
        ``group_pathways`` list of ``n_groups`` index arrays (the pathways of
        each group); ``group_genes`` list of index arrays (the genes whose
        rate the group raises); ``noise_genes`` index array of the genes in
        no pathway.

    Examples
    --------
    >>> from nmfkit.datasets import make_pathway_cohort
    >>> cohort = make_pathway_cohort(n_samples=100, n_genes=200, n_pathways=30,
    ...                              random_state=0)
    >>> cohort.data.shape, cohort.pathways.shape, sorted(set(cohort.target.tolist()))
    ((100, 200), (30, 200), [0, 1, 2, 3])
    """
    rng = check_random_state(random_state)
    n_planted = n_groups * pathways_per_group
    if n_pathways < n_planted:
        raise ValueError(
            f"n_pathways={n_pathways} is smaller than n_groups * pathways_per_group"
            f" = {n_planted}."
        )
    n_noise = int(round(noise_gene_fraction * n_genes))
    perm = rng.permutation(n_genes)
    noise_genes = np.sort(perm[:n_noise])
    covered = perm[n_noise:]
    if covered.size < 2:
        raise ValueError("noise_gene_fraction leaves fewer than 2 genes in pathways.")

    def size():
        s = int(round(pathway_size * np.exp(0.4 * rng.standard_normal())))
        return int(np.clip(s, 2, covered.size))

    rows = []
    group_pathways, group_genes = [], []
    # planted groups: a core of genes per group, each pathway takes most of
    # the core plus a few other genes
    core_size = min(covered.size, max(2, int(round(1.5 * pathway_size))))
    for g in range(n_groups):
        core = rng.choice(covered, size=core_size, replace=False)
        members = []
        for _ in range(pathways_per_group):
            s = size()
            n_core = min(core_size, max(2, int(round(0.7 * s))))
            genes = set(rng.choice(core, size=n_core, replace=False).tolist())
            genes |= set(rng.choice(covered, size=max(0, s - n_core),
                                    replace=False).tolist())
            members.append(len(rows))
            rows.append(np.array(sorted(genes)))
        group_pathways.append(np.array(members))
        group_genes.append(np.sort(core))
    for _ in range(n_pathways - n_planted):
        rows.append(np.sort(rng.choice(covered, size=size(), replace=False)))
    # every covered gene in at least one pathway: spread the uncovered ones
    counts = np.zeros(n_genes, dtype=int)
    for r in rows:
        counts[r] += 1
    missing = covered[counts[covered] == 0]
    if missing.size:
        targets = rng.randint(n_planted, n_pathways, size=missing.size) \
            if n_pathways > n_planted else rng.randint(0, n_pathways, size=missing.size)
        for gene, t in zip(missing, targets):
            rows[t] = np.union1d(rows[t], [gene])
    order = rng.permutation(n_pathways)  # planted pathways not first
    inverse = np.argsort(order)
    rows = [rows[i] for i in order]
    group_pathways = [np.sort(inverse[m]) for m in group_pathways]
    indptr = np.concatenate(([0], np.cumsum([r.size for r in rows])))
    P = sp.csr_matrix((np.ones(indptr[-1]), np.concatenate(rows), indptr),
                      shape=(n_pathways, n_genes))

    # samples: baseline rates, raised on the group's genes in its class
    y = np.arange(n_samples) % (n_groups + 1)
    y = y[rng.permutation(n_samples)]
    base = np.clip(mutation_rate * np.exp(0.5 * rng.standard_normal(n_genes)), 0, 0.5)
    data_rows, data_cols = [], []
    for c in range(n_groups + 1):
        idx = np.flatnonzero(y == c)
        if idx.size == 0:
            continue
        rate = base.copy()
        if c > 0:
            genes = group_genes[c - 1]
            rate[genes] = np.clip(rate[genes] * effect, 0, 0.9)
        # Bernoulli entries drawn sparsely: number per gene, then which samples
        n_hits = rng.binomial(idx.size, rate)
        cols = np.repeat(np.arange(n_genes), n_hits)
        rws = np.concatenate([rng.choice(idx, size=h, replace=False) for h in n_hits
                              if h]) if n_hits.sum() else np.zeros(0, dtype=int)
        data_rows.append(rws)
        data_cols.append(cols)
    r = np.concatenate(data_rows)
    c = np.concatenate(data_cols)
    values = 1.0 + (rng.random_sample(r.size) < 0.1)
    X = sp.csr_matrix((values, (r, c)), shape=(n_samples, n_genes))
    X.sort_indices()
    data = X if sparse else X.toarray()
    return Bunch(data=data, target=y, pathways=P, group_pathways=group_pathways,
                 group_genes=group_genes, noise_genes=noise_genes)
