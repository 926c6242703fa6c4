"""The ``gristmill`` command: ``gristmill run`` for the whole pipeline, ``gristmill <stage>``
for one.

Each subcommand is a job in ``jobs/`` with the same options as ``spark-submit jobs/<stage>.py``.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from gristmill.jobs import (
    card,
    decontaminate,
    dedup,
    ingest,
    quality,
    tokenize_shards,
    train_lm,
    train_quality,
)
from gristmill.jobs import run as run_job
from gristmill.jobs.options import start

COMMANDS = {
    "run": run_job,
    "ingest": ingest,
    "quality": quality,
    "dedup": dedup,
    "decontaminate": decontaminate,
    "tokenize": tokenize_shards,
    "card": card,
    "train-quality": train_quality,
    "train-lm": train_lm,
}


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
    for name, job in COMMANDS.items():
        summary = job.__doc__.strip().splitlines()[0]
        p = sub.add_parser(
            name,
            help=summary,
            description=job.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        job.add_arguments(p)
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
        start(args, COMMANDS[args.command])
    return 0


if __name__ == "__main__":
    sys.exit(main())
