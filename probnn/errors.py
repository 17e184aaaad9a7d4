"""Exceptions raised by probnn.

Every error probnn raises on purpose derives from :class:`ProbnnError`, and also from the builtin
exception a user would expect (``ValueError`` for bad values, ``TypeError`` for bad types), so both
``except probnn.ProbnnError`` and ``except ValueError`` work.
"""

from __future__ import annotations


class ProbnnError(Exception):
    """Base class of every error probnn raises on purpose."""


class InputError(ProbnnError, ValueError):
    """An argument has the wrong shape, dtype, length or contains NaN/inf; the message names it."""


class InputTypeError(ProbnnError, TypeError):
    """An argument has the wrong type (e.g. an integer tensor where floats are required)."""


class MethodError(ProbnnError, ValueError):
    """An inference method or option is unknown or not supported by the model."""


class NotFittedError(ProbnnError, RuntimeError):
    """An operation needs a fitted model or posterior and got an unfitted one."""


class UnsupportedOperationError(ProbnnError, TypeError):
    """The operation is not defined for this object (e.g. quantiles of a categorical prediction)."""


class CheckpointError(ProbnnError, OSError):
    """A saved file is missing, truncated, corrupted, foreign, or from an unknown format version."""


class NumericalError(ProbnnError, ArithmeticError):
    """A computation failed numerically even after the documented safeguards (e.g. jitter escalation)."""
