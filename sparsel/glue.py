"""``glue(name, value)``: myst-nb's glue for the book's numbers, as plain Python values.

NumPy 2 prints scalars as ``np.float64(0.5)``, which myst-nb cannot format with ``{glue:text}`key:.3f```;
we hand it the Python value instead. Nothing is displayed in the notebook itself.
"""
from __future__ import annotations

import numpy as np


def glue(name: str, value, markdown: bool = False) -> None:
    """Glue ``value`` under ``name`` for ``{glue:text}`name```; with ``markdown``, a string
    glued as Markdown for ``{glue:md}`name``` (inline code, links and emphasis rendered, and
    ``--`` in a command left as typed, not turned into a dash)."""
    from myst_nb import glue as _glue
    if isinstance(value, np.generic):
        value = value.item()
    if markdown:
        from IPython.display import Markdown
        value = Markdown(str(value))
    _glue(name, value, display=False)
