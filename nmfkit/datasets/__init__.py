"""Data for nmfkit: generators with a planted ground truth, and loaders of real formats.

One module per source. Generators (``make_*``) return data together with the
factors that made it, so that tests and examples can check recovery. Loaders
(``load_*``) read a real data set from an explicit path; nmfkit never ships or
downloads data (the shared research sets live in ``../shared/data`` beside the
repository, see its README).

- :func:`load_movielens`: MovieLens 100k ratings and their canonical folds.
"""

from .corpus import make_topic_corpus
from .hyperspectral import load_mat_scene, load_samson, make_hyperspectral_scene
from .movielens import load_movielens
from .pathways import make_pathway_cohort

__all__ = [
    "load_mat_scene",
    "load_movielens",
    "load_samson",
    "make_hyperspectral_scene",
    "make_pathway_cohort",
    "make_topic_corpus",
]
