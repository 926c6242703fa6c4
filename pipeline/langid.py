"""Language identification with fastText's lid.176 model.

The model file ships inside gristmill's own wheel (``gristmill/models/lid.176.ftz``, CC BY-SA
3.0, see the NOTICE beside it): every wheel on PyPI that carries it also requires a second
fastText build that clashes with ``fasttext-numpy2``, so a package manager could not install one
cleanly. It is never downloaded; ``GRISTMILL_LID_MODEL`` names another copy (lid.176.bin, say).
It is loaded once per Python process: Spark reuses its Python workers across tasks, so that is
once per executor core, not per task or batch.
"""

from __future__ import annotations

import functools
import hashlib
import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import fasttext
import numpy as np

from gristmill.filters.fasttext_kernel import CompiledModel, compiled_model
from gristmill.filters.words import code_points, from_code_points

MODEL_LICENSE = "CC BY-SA 3.0 (fastText lid.176, Joulin et al. 2016)"
# fastText averages its n-gram vectors, so a prefix decides as well as the whole page, and
# its cost grows with the text. Measured on the 1,255 real pages with text (median 3,843
# characters): against the manifest's langid.py guesses, 2,000 characters agree on 1,238 and
# 10,000 on 1,235 (3 labels change, all on pages mixing two languages), and predict costs 0.59
# against 1.51 s, a fifth of extraction's cost before. Part of ingest's digest.
MAX_CHARS = 2_000
LID_ENV = "GRISTMILL_LID_MODEL"


def _packaged() -> Traversable:
    return resources.files("gristmill") / "models" / "lid.176.ftz"


def _sha256(resource: Traversable) -> str:
    with resource.open("rb") as f:  # streamed: GRISTMILL_LID_MODEL may be the 126 MB lid.176.bin
        # typeshed asks for readinto(), which this buffered binary file has.
        return hashlib.file_digest(f, "sha256").hexdigest()  # type: ignore[arg-type]


def model_resource() -> Traversable:
    """The model file: GRISTMILL_LID_MODEL, else the copy in the gristmill package (a file in
    site-packages, or a member of the --py-files zip on a cluster's executors)."""
    if os.environ.get(LID_ENV):
        path = Path(os.environ[LID_ENV])
        if not path.is_file():
            raise FileNotFoundError(f"{LID_ENV}={path}: no such file (lid.176.ftz or .bin)")
        return path
    resource = _packaged()
    if not resource.is_file():
        raise FileNotFoundError(
            f"{resource}: the gristmill package lacks its lid.176 model; reinstall it, or set "
            f"{LID_ENV} to a copy of lid.176.ftz"
        )
    return resource


def model_info() -> dict[str, str]:
    """Where the model is and its sha256, for the dataset card."""
    resource = model_resource()
    return {"path": str(resource), "sha256": _sha256(resource), "license": MODEL_LICENSE}


def chosen_model_sha256() -> str | None:
    """The sha256 of a model GRISTMILL_LID_MODEL names, for ingest's digest: another model
    labels some pages otherwise. None for the packaged model's bytes, wherever they lie, so a
    copy of it redoes nothing. The driver reads the file as the dataset card does (on a
    cluster, the path must hold the same file on the driver and the executors)."""
    if not os.environ.get(LID_ENV):
        return None
    chosen = _sha256(model_resource())
    packaged = _packaged()
    return None if packaged.is_file() and _sha256(packaged) == chosen else chosen


@functools.cache
def _model() -> fasttext.FastText._FastText:
    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load-time warning
    # as_file: fastText reads a path, and a model inside a zip is extracted for the load only.
    with resources.as_file(model_resource()) as path:
        return fasttext.load_model(str(path))


@functools.cache
def _compiled() -> CompiledModel | None:
    """The model for the compiled kernel, where it covers it (lid.176's hierarchical softmax,
    quantized or not), else None. A model extracted from a zip for the load stays readable
    after its copy is removed: its matrices are decoded or mapped."""
    with resources.as_file(model_resource()) as path:
        model = compiled_model(str(path))
    return model if model is not None and model.tree.size else None


def labels() -> frozenset[str]:
    """The language codes the model can answer (lid.176's 176: "en", "de", "zh", "als", ...)."""
    return frozenset(label.removeprefix("__label__") for label in _model().get_labels())


def identify(texts: list[str]) -> tuple[list[str], list[float]]:
    """Top language code and its probability for each text, in one batched call: fastText's
    ``predict(k=1)`` on the text's first MAX_CHARS characters, whitespace runs as one space,
    computed by the compiled kernel (:mod:`gristmill.filters.fasttext_kernel`, the same floats),
    or by ``fasttext`` for a model the kernel does not cover."""
    if not texts:
        return [], []
    lines = [" ".join(t[:MAX_CHARS].split()) for t in texts]
    if _compiled() is None:
        labels, probs = _model().predict(lines, k=1)
        langs = [lab[0].removeprefix("__label__") if lab else "unknown" for lab in labels]
        return langs, [min(float(p[0]), 1.0) if len(p) else 0.0 for p in probs]
    return identify_points(code_points("".join(lines)), np.cumsum([len(x) for x in lines]))


def identify_points(points: np.ndarray, ends: np.ndarray) -> tuple[list[str], list[float]]:
    """:func:`identify` of texts given as code points one after another, each ending at its
    entry of ``ends``, and each already as :func:`identify` makes it: at most MAX_CHARS,
    whitespace runs one space, none at either end. The language screen's questions are such
    text, and the string round trip cost it as much as a third of the answer."""
    compiled = _compiled()
    if not ends.size:
        return [], []
    if compiled is None:
        starts = np.concatenate([[0], ends[:-1]])
        return identify([from_code_points(points[a:b]) for a, b in zip(starts, ends, strict=True)])
    found, probability = compiled.top(points, ends)
    names = [label.removeprefix("__label__") for label in compiled.labels]
    pairs = list(zip(found.tolist(), probability.tolist(), strict=True))
    return [names[i] if i >= 0 else "unknown" for i, _ in pairs], [
        min(p, 1.0) if i >= 0 else 0.0 for i, p in pairs
    ]
