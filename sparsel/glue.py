"""``glue(name, value)``: myst-nb's glue for the book's numbers, as plain Python values.

NumPy 2 prints scalars as ``np.float64(0.5)``, which myst-nb cannot format with ``{glue:text}`key:.3f```;
we hand it the Python value instead. Nothing is displayed in the notebook itself.
"""
from __future__ import annotations

import numpy as np


def glue(name: str, value) -> None:
    from myst_nb import glue as _glue
    if isinstance(value, np.generic):
        value = value.item()
    _glue(name, value, display=False)
