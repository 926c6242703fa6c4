"""The ``gristmill`` command: ``gristmill run`` for the whole pipeline, ``gristmill <stage>``
for one.

Each subcommand is a job in ``jobs/`` with the same options as ``spark-submit jobs/<stage>.py``.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
from importlib import metadata
from pathlib import Path

from gristmill.jobs.arguments import COMMANDS


def module_doc(module: str) -> str:
    """A module's docstring, read from its source without importing it."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return ast.get_docstring(ast.parse(Path(spec.origin).read_text())) or module


def sample(argv: list[str]) -> None:
    from gristmill.pipeline import sample_warc

    sample_warc.main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gristmill",
        description="Common Crawl WARC files to clean, deduplicated, decontaminated, tokenized "
        "training shards, on Apache Spark.",
    )
    parser.add_argument("--version", action="version", version=metadata.version("gristmill"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, add_arguments) in COMMANDS.items():
        doc = module_doc(module)
        p = sub.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(p)
    sub.add_parser(
        "sample", help="write the demo's sample WARC, benchmark and reference text to a directory"
    ).add_argument("dir")
    sub.add_parser(
        "submit",
        help="run a command on a Spark cluster: gristmill submit [spark-submit options] -- "
        "COMMAND [ARGS]",
        add_help=False,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["submit"]:
        # Everything after "submit" belongs to spark-submit or to the submitted command.
        from gristmill.pipeline import submit

        return submit.main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "sample":
        sample([args.dir])
    else:
        from gristmill.jobs.options import start

        start(args, importlib.import_module(COMMANDS[args.command][0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
