"""implicit's ``implicit.utils`` helpers that its public calls rely on: the
warning class of non-CSR input and the ``random_state`` rules."""

from __future__ import annotations

import time
import warnings
from typing import Any, Iterator, Tuple

import numpy as np
import scipy.sparse as sp

__all__ = ["ParameterWarning", "check_csr", "check_random_state", "nonzeros"]


class ParameterWarning(Warning):
    """Warned, as implicit does, when a call is given a parameter it has to
    convert (a sparse matrix that is not ``scipy.sparse.csr_matrix``)."""


def check_csr(user_items: Any) -> "sp.csr_matrix":
    """``user_items`` as a ``csr_matrix``; anything else is converted with a
    ``ParameterWarning`` (implicit's rule and message)."""
    if not isinstance(user_items, sp.csr_matrix):
        class_name = user_items.__class__.__name__
        start = time.time()
        user_items = sp.csr_matrix(user_items.tocsr())
        warnings.warn(
            f"Method expects CSR input, and was passed {class_name} instead. "
            f"Converting to CSR took {time.time() - start} seconds",
            ParameterWarning,
            stacklevel=3,
        )
    return user_items


def check_random_state(random_state: Any) -> "np.random.Generator":
    """implicit's ``random_state`` as a numpy Generator: None or an int seed
    ``numpy.random.default_rng``, a Generator is used as is. A legacy
    ``RandomState`` seeds a new Generator from one draw (implicit 0.7.3
    raises ``AttributeError`` there)."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    return np.random.default_rng(random_state)


def nonzeros(m: "sp.csr_matrix", row: int) -> Iterator[Tuple[int, float]]:
    """``(column, value)`` of the stored entries of one CSR row."""
    for index in range(m.indptr[row], m.indptr[row + 1]):
        yield m.indices[index], m.data[index]
