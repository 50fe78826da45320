"""Command line of nmfkit: ``python -m nmfkit demo [options]``.

Subcommands
-----------
demo
    Fit :class:`nmfkit.NMF` (and scikit-learn's NMF, for comparison) to
    scikit-learn's bundled digits; print parameters, reconstruction error and
    time; write a PNG of the components when matplotlib is installed.

Examples
--------
>>> from nmfkit.__main__ import build_parser
>>> args = build_parser().parse_args(["demo", "--n-components", "8", "--no-plot"])
>>> args.command, args.n_components, args.solver, args.plot
('demo', 8, 'cd', False)
"""

import argparse
import sys

__all__ = ["build_parser", "main"]


def build_parser():
    """The argument parser of ``python -m nmfkit``.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="python -m nmfkit",
        description="nmfkit: non-negative matrix factorization estimators "
                    "for scikit-learn.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="fit NMF to scikit-learn's digits and compare with scikit-learn",
        description="Fit nmfkit.NMF and sklearn.decomposition.NMF (same "
                    "parameters) to scikit-learn's bundled digits; print the "
                    "parameters, reconstruction errors, iterations and times; "
                    "write a PNG of the components when matplotlib is installed.",
    )
    demo.add_argument("--n-components", type=int, default=16,
                      help="rank of the factorization (default: 16)")
    demo.add_argument("--solver", choices=["cd", "mu"], default="cd",
                      help="solver (default: cd)")
    demo.add_argument("--output", default="nmf_digits_components.png",
                      help="PNG file of the components "
                           "(default: nmf_digits_components.png)")
    demo.add_argument("--no-plot", dest="plot", action="store_false",
                      help="do not write the PNG")
    demo.add_argument("--no-compare", dest="compare", action="store_false",
                      help="do not fit scikit-learn's NMF for comparison")
    return parser


def main(argv=None):
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 2 for a usage error (no subcommand).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "demo":
        if args.n_components < 1:
            parser.error("--n-components must be a positive integer")
        from ._demo import run_demo

        run_demo(n_components=args.n_components, solver=args.solver,
                 output=args.output, plot=args.plot, compare=args.compare)
        return 0
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
