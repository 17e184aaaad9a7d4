"""Progress bars for long work (sampling, training), silenced globally or per call.

``progress=None`` (the default everywhere) follows the global switch :func:`set_quiet`, which the
CLI's ``--quiet`` flag and the ``PROBNN_QUIET=1`` environment variable set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

_QUIET = os.environ.get("PROBNN_QUIET", "") not in ("", "0", "false", "False")


def set_quiet(quiet: bool = True) -> None:
    """Silence (``True``) or re-enable (``False``) every probnn progress bar."""
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    """Whether progress bars are globally silenced."""
    return _QUIET


def progress_enabled(progress: bool | None) -> bool:
    """Resolve a per-call ``progress`` argument against the global switch."""
    return (not _QUIET) if progress is None else bool(progress)


def progress_bar(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    progress: bool | None = None,
) -> Iterator[T] | tqdm:
    """A tqdm bar over ``iterable`` (or a manual bar of ``total`` steps), disabled when quiet."""
    return tqdm(
        iterable, total=total, desc=desc, disable=not progress_enabled(progress), leave=False,
        dynamic_ncols=True,
    )
