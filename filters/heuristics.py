"""The heuristic rule sets of the quality stage (their signal columns in this order; the stage
decides in FineWeb's order, Gopher repetition before Gopher quality: ``pipeline/quality.decide``).

Each module has the same interface: a frozen ``*Config`` dataclass, ``SIGNAL_FIELDS``,
``DROP_REASONS``, ``signals(text)`` and ``decide(signals, cfg)``; ``c4`` also has ``clean``, and
its ``signals`` takes the config too. datatrove's FineWeb recipe (Penedo et al. 2024) runs them as
a chain, each on the text the previous one left: the Gopher rules see the extracted text, and
FineWeb's rules see the text after C4's cleaning (where FineWeb turned C4's terminal-punctuation
line rule off, ``filter_no_terminal_punct=False``, as it removed too much; gristmill's default
``quality.recipe: fineweb`` does the same).
"""

from __future__ import annotations

from types import ModuleType

from gristmill.filters import c4, fineweb, gopher_quality, gopher_repetition

HEURISTICS: tuple[ModuleType, ...] = (gopher_quality, gopher_repetition, c4, fineweb)
