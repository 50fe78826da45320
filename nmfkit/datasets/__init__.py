"""Data for nmfkit: generators with a planted ground truth, and loaders of real formats.

One module per source. Generators (``make_*``) return data together with the
factors that made it, so that tests and examples can check recovery. Loaders
(``load_*``) read a real data set from an explicit path; nmfkit never ships or
downloads data (the shared research sets live in ``../shared/data`` beside the
repository, see its README).
"""

from .corpus import make_topic_corpus

__all__ = ["make_topic_corpus"]
