"""Document perplexity under an n-gram model (CCNet's quality signal, Wenzek et al. 2020).

The model is an ARPA file written by ``gristmill train-lm`` (or lmplz), read with the ``kenlm``
module once per Python process and path. A document is normalized exactly as the training text
was (:func:`gristmill.pipeline.lm_text.lm_lines`), every sentence is scored with ``<s>`` and
``</s>``, and

    perplexity = 10 ** (-sum of log10 p over the document / tokens, each sentence's </s> included)

as CCNet's ``perplexity.py`` does over a document's lines. Low perplexity: text like the
reference (Wikipedia); high: unlike it (boilerplate, spam, another language). A document with
no token left after normalization has no perplexity: NaN.
"""

from __future__ import annotations

import functools
import math
import os

import kenlm

from gristmill.pipeline.lm_text import lm_lines


@functools.cache
def _load(path: str) -> kenlm.Model:
    return kenlm.Model(path)


def load_model(model_path: str | os.PathLike[str]) -> kenlm.Model:
    """The model at this path, loaded on the first call in this process (an ARPA file of a few
    hundred MB takes seconds to parse) and shared by every later call."""
    return _load(os.path.abspath(model_path))


def document_perplexity(text: str, model: kenlm.Model) -> float:
    log10_sum = 0.0
    tokens = 0
    for line in lm_lines(text):
        log10_sum += model.score(line, bos=True, eos=True)
        tokens += line.count(" ") + 2  # words + </s>
    return 10.0 ** (-log10_sum / tokens) if tokens else math.nan


def perplexities(texts: list[str], model_path: str) -> list[float]:
    """Perplexity of each document under the model at ``model_path``."""
    model = load_model(model_path)
    return [document_perplexity(text or "", model) for text in texts]
