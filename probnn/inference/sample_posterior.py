"""The posterior of every sampling backend (nuts, hmc, sghmc) and of SVI's guide draws.

It holds draws ``{site: [chains, draws, ...]}`` and per-transition statistics
``{name: [chains, draws]}``; predictions are the model's mixture over the (flattened) draws, via the
parametric-model protocol (:mod:`probnn.inference.protocols`).
"""

from __future__ import annotations

from typing import Any

import torch

from probnn import io
from probnn.errors import InputError
from probnn.inference import diagnostics
from probnn.posterior import Posterior
from probnn.predictive import Predictive
from probnn.random import GeneratorLike, as_generator


@io.register
class SamplePosterior(Posterior):
    """Posterior represented by draws.

    Attributes:
        draws: ``{site: [chains, draws, ...]}`` (latent and deterministic sites of the model).
        sample_stats: ``{name: [chains, draws]}`` (``diverging``, ``tree_depth``, ``accept_prob``, ...).
        x_train, y_train: the data the posterior was conditioned on.
    """

    def __init__(self, model: Any, draws: dict[str, torch.Tensor], sample_stats: dict[str, torch.Tensor],
                 x_train: torch.Tensor, y_train: torch.Tensor, *, method: str = "",
                 fit_info: dict[str, Any] | None = None) -> None:
        super().__init__(model, num_features=x_train.shape[-1], fit_info=fit_info)
        if not draws:
            raise InputError("draws must hold at least one site")
        shapes = {tuple(value.shape[:2]) for value in draws.values()}
        if len(shapes) != 1:
            raise InputError(f"every site must have the same [chains, draws] leading shape; got {shapes}")
        self.draws = dict(draws)
        self.sample_stats = dict(sample_stats)
        self.x_train = x_train
        self.y_train = y_train
        self.method = method

    @property
    def num_chains(self) -> int:
        return next(iter(self.draws.values())).shape[0]

    @property
    def num_draws(self) -> int:
        """Draws per chain."""
        return next(iter(self.draws.values())).shape[1]

    def flat_draws(self) -> dict[str, torch.Tensor]:
        """``{site: [chains * draws, ...]}``."""
        return {name: value.reshape(-1, *value.shape[2:]) for name, value in self.draws.items()}

    def predict(self, x: torch.Tensor) -> Predictive:
        """Equal-weight mixture over all draws (chains flattened)."""
        x = self.check_inputs(x)
        with torch.no_grad():
            return self.model.predictive_from_draws(self.flat_draws(), x, x_train=self.x_train,
                                                    y_train=self.y_train)

    def sample_functions(self, x: torch.Tensor, num_samples: int, *,
                         generator: GeneratorLike = None) -> torch.Tensor:
        """Functions ``[S, n, out]`` at ``S`` draws picked uniformly (with replacement) from the chains."""
        x = self.check_inputs(x)
        if not hasattr(self.model, "functions_from_draws"):
            return super().sample_functions(x, num_samples, generator=generator)
        generator = as_generator(generator)
        flat = self.flat_draws()
        total = next(iter(flat.values())).shape[0]
        index = torch.randint(0, total, (num_samples,), generator=generator)
        with torch.no_grad():
            return self.model.functions_from_draws({k: v[index] for k, v in flat.items()}, x)

    def function_draws(self) -> torch.Tensor | None:
        """Network outputs at up to 100 training inputs, ``[chains, draws, points * out]``."""
        if not hasattr(self.model, "functions_from_draws"):
            return None
        x = self.x_train[: diagnostics.MAX_FUNCTION_POINTS]
        with torch.no_grad():
            f = self.model.functions_from_draws(self.flat_draws(), x)
        return f.reshape(self.num_chains, self.num_draws, -1)

    def log_likelihood(self) -> torch.Tensor | None:
        """Pointwise training log likelihood ``[chains, draws, n]``."""
        if not hasattr(self.model, "log_likelihood_from_draws"):
            return None
        with torch.no_grad():
            values = self.model.log_likelihood_from_draws(self.flat_draws(), self.x_train, self.y_train)
        return values.reshape(self.num_chains, self.num_draws, -1)

    def diagnostics(self) -> dict[str, Any]:
        """R-hat / ESS per site and in function space, divergences, tree depth (see :mod:`diagnostics`)."""
        if "diagnostics" not in self.fit_info:
            self.fit_info["diagnostics"] = diagnostics.summarize(self.draws, self.sample_stats,
                                                                 self.function_draws())
        return self.fit_info["diagnostics"]

    def summary(self) -> dict[str, Any]:
        self.diagnostics()
        return {**super().summary(), "num_chains": self.num_chains, "num_draws": self.num_draws}

    def to_arviz(self) -> Any:
        """``arviz.InferenceData`` with posterior, sample_stats, log_likelihood and observed_data."""
        return diagnostics.to_inference_data(self.draws, self.sample_stats, self.log_likelihood(), self.y_train)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tensors: dict[str, torch.Tensor] = {"x_train": self.x_train, "y_train": self.y_train}
        for name, value in self.draws.items():
            tensors[f"draws.{name}"] = value
        for name, value in self.sample_stats.items():
            tensors[f"stats.{name}"] = value
        config = {"model": io.encode_child(self.model, "model", tensors), "method": self.method,
                  "sites": list(self.draws), "stats": list(self.sample_stats), "fit_info": self.fit_info}
        return config, tensors

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> SamplePosterior:
        model = io.decode_child(config["model"], "model", tensors)
        draws = {name: tensors[f"draws.{name}"] for name in config["sites"]}
        stats = {name: tensors[f"stats.{name}"] for name in config["stats"]}
        return cls(model, draws, stats, tensors["x_train"], tensors["y_train"], method=config["method"],
                   fit_info=config["fit_info"])
