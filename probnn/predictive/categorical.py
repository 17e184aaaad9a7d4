"""Categorical predictive for classification: ``p(y_i = c) = probs_i[c]``."""

from __future__ import annotations

import torch

from probnn.errors import InputError, UnsupportedOperationError
from probnn.predictive.base import Predictive, check_num_samples, sample_generator
from probnn.random import GeneratorLike
from probnn.validation import check_finite


class CategoricalPredictive(Predictive):
    """Class probabilities per point (a binary classifier has two classes).

    ``mean`` and ``variance`` are those of the one-hot vector, ``p`` and ``p (1 - p)``, shape
    ``[*batch, num_classes]``; ``log_prob`` takes integer labels. Quantiles, intervals and CDFs are
    not defined for unordered classes and raise :class:`UnsupportedOperationError`.

    Args:
        probs: class probabilities ``[*batch, num_classes]`` (rows sum to one), or
        logits: unnormalised log probabilities of the same shape (exactly one of the two).
    """

    def __init__(self, probs: torch.Tensor | None = None, *, logits: torch.Tensor | None = None) -> None:
        if (probs is None) == (logits is None):
            raise InputError("give exactly one of probs and logits")
        if logits is not None:
            logits = torch.as_tensor(logits)
            check_finite(logits, "logits")
            self.log_probs = torch.log_softmax(logits, -1)
        else:
            probs = torch.as_tensor(probs)
            check_finite(probs, "probs")
            if bool((probs < 0).any()):
                raise InputError("probs must be >= 0")
            sums = probs.sum(-1)
            if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
                raise InputError(f"probs must sum to 1 over the last axis; got sums in "
                                 f"[{float(sums.min()):.4g}, {float(sums.max()):.4g}]")
            self.log_probs = torch.log((probs / sums.unsqueeze(-1)).clamp_min(1e-300))
        if self.log_probs.ndim < 1 or self.log_probs.shape[-1] < 2:
            raise InputError("probs must have a last axis of at least 2 classes")

    @property
    def probs(self) -> torch.Tensor:
        """Class probabilities ``[*batch, num_classes]``."""
        return self.log_probs.exp()

    @property
    def num_classes(self) -> int:
        return self.log_probs.shape[-1]

    @property
    def batch_shape(self) -> torch.Size:
        return self.log_probs.shape[:-1]

    @property
    def mean(self) -> torch.Tensor:
        return self.probs

    @property
    def variance(self) -> torch.Tensor:
        probs = self.probs
        return probs * (1 - probs)

    def predicted_class(self) -> torch.Tensor:
        """Most probable class per point ``[*batch]``."""
        return self.log_probs.argmax(-1)

    def entropy(self) -> torch.Tensor:
        """Predictive entropy ``-sum_c p_c log p_c`` per point (an OOD score)."""
        return -(self.probs * self.log_probs).sum(-1)

    def sample(self, num_samples: int, *, generator: GeneratorLike = None) -> torch.Tensor:
        num_samples = check_num_samples(num_samples)
        flat = self.probs.reshape(-1, self.num_classes)
        draws = torch.multinomial(flat, num_samples, replacement=True, generator=sample_generator(generator))
        return draws.T.reshape(num_samples, *self.batch_shape)

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        labels = torch.as_tensor(y)
        if labels.dtype.is_floating_point:
            if not bool((labels == labels.round()).all()):
                raise InputError("y must hold integer class labels")
            labels = labels.long()
        if labels.shape != self.batch_shape:
            raise InputError(f"y must have shape {tuple(self.batch_shape)}; got {tuple(labels.shape)}")
        if bool(((labels < 0) | (labels >= self.num_classes)).any()):
            raise InputError(f"y must hold labels in 0..{self.num_classes - 1}")
        return self.log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)

    def _unordered(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(f"{what} is not defined for categorical predictions "
                                         "(classes are unordered); use probs, entropy() or sample()")

    def cdf(self, y: torch.Tensor) -> torch.Tensor:
        raise self._unordered("cdf")

    def quantile(self, q: float | torch.Tensor) -> torch.Tensor:
        raise self._unordered("quantile")

    def interval(self, level: float) -> tuple[torch.Tensor, torch.Tensor]:
        raise self._unordered("interval")

    def crps(self, y: torch.Tensor) -> torch.Tensor:
        raise self._unordered("CRPS; use the Brier score (probnn.metrics.brier_score)")

    def affine(self, shift: torch.Tensor | float, scale: torch.Tensor | float) -> Predictive:
        raise self._unordered("an affine transform")
