"""Console output: INFO to stdout, warnings and errors to stderr, whatever module logs it."""

from __future__ import annotations

from gristmill.pipeline.log import configure, logger


def test_a_module_run_as_main_logs_under_gristmill(capsys):
    configure()
    assert logger("__main__").name == "gristmill.__main__"
    assert logger("gristmill.jobs.run").name == "gristmill.jobs.run"
    logger("__main__").info("batch 1: 1 new input file(s)")
    logger("gristmill.jobs.ingest").warning("set aside for the next run")
    out, err = capsys.readouterr()
    assert out == "batch 1: 1 new input file(s)\n"
    assert err == "set aside for the next run\n"
