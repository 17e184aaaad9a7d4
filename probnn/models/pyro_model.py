"""Wrap any user-written pyro model so ``probnn.fit(..., method="nuts" | "hmc")`` can sample it.

The model function ``model_fn(x, y)`` declares its latent variables with ``pyro.sample`` and its
likelihood as the observed site ``observation_site`` (``obs=y``; ``y`` is ``None`` when predicting).
The likelihood at that site must be a ``Normal`` or ``StudentT`` (optionally ``.to_event``) for
predictions; any pyro model can be sampled. Sampling runs pyro's NUTS over torch (the generic path).

Example:
    >>> import pyro, pyro.distributions as dist, torch, probnn
    >>> def regression(x, y=None):
    ...     slope = pyro.sample("slope", dist.Normal(0.0, 1.0))
    ...     with pyro.plate("data", x.shape[0]):
    ...         pyro.sample("y", dist.Normal(slope * x[:, 0], 0.1), obs=y)
    >>> model = probnn.models.PyroModel(regression, num_features=1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

from probnn.errors import InputError, UnsupportedOperationError
from probnn.models.base import Model
from probnn.predictive import GaussianPredictive, MixturePredictive, StudentTPredictive
from probnn.predictive.base import Predictive
from probnn.random import GeneratorLike, as_generator


class PyroModel(Model):
    """A parametric model given as a pyro model function (generic, torch-based path).

    Args:
        model_fn: ``model_fn(x [n, d], y [n] | None)``, a pyro model.
        num_features: input dimension ``d``.
        observation_site: name of the observed sample site.
    """

    backends: ClassVar[dict[str, str]] = {
        "nuts": "probnn.inference.nuts:fit_nuts",
        "hmc": "probnn.inference.nuts:fit_hmc",
    }
    default_method: ClassVar[str] = "nuts"

    def __init__(self, model_fn: Callable[..., Any], *, num_features: int, observation_site: str = "y") -> None:
        if not callable(model_fn):
            raise InputError(f"model_fn must be a callable pyro model; got {type(model_fn).__name__}")
        self.model_fn = model_fn
        self.num_features = int(num_features)
        self.observation_site = observation_site

    def pyro_model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Any:
        return self.model_fn(x, y)

    def _observation(self, draw: dict[str, torch.Tensor], x: torch.Tensor,
                     y: torch.Tensor | None) -> torch.distributions.Distribution:
        import pyro

        conditioned = pyro.poutine.condition(self.model_fn, data=draw)
        trace = pyro.poutine.trace(conditioned).get_trace(x, y)
        if self.observation_site not in trace.nodes:
            raise InputError(f"the pyro model has no sample site {self.observation_site!r}")
        return trace.nodes[self.observation_site]["fn"]

    def _draw(self, draws: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
        return {name: value[index] for name, value in draws.items()}

    def predictive_from_draws(self, draws: dict[str, torch.Tensor], x: torch.Tensor, *,
                              x_train: torch.Tensor | None = None,
                              y_train: torch.Tensor | None = None) -> Predictive:
        count = next(iter(draws.values())).shape[0]
        locs, scales, dfs = [], [], []
        for index in range(count):
            distribution = self._observation(self._draw(draws, index), x.float(), None)
            base = getattr(distribution, "base_dist", distribution)
            if not isinstance(base, torch.distributions.Normal | torch.distributions.StudentT):
                raise UnsupportedOperationError(
                    f"predictions need a Normal or StudentT likelihood; the model uses {type(base).__name__}")
            locs.append(base.loc.expand(x.shape[0]))
            scales.append(base.scale.expand(x.shape[0]))
            if isinstance(base, torch.distributions.StudentT):
                dfs.append(float(base.df.flatten()[0]))
        loc, scale = torch.stack(locs), torch.stack(scales)
        if dfs:
            return MixturePredictive(StudentTPredictive(dfs[0], loc, scale))
        return MixturePredictive(GaussianPredictive(loc, scale**2))

    def log_likelihood_from_draws(self, draws: dict[str, torch.Tensor], x: torch.Tensor,
                                  y: torch.Tensor) -> torch.Tensor:
        count = next(iter(draws.values())).shape[0]
        values = []
        for index in range(count):
            distribution = self._observation(self._draw(draws, index), x.float(), y.float())
            values.append(getattr(distribution, "base_dist", distribution).log_prob(y.float()))
        return torch.stack(values)

    def sample_prior_functions(self, x: torch.Tensor, num_samples: int, *,
                               generator: GeneratorLike = None) -> torch.Tensor:
        """Means of the likelihood at ``x`` under prior draws ``[S, n, 1]``."""
        import pyro

        generator = as_generator(generator)
        means = []
        for _ in range(num_samples):
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                trace = pyro.poutine.trace(self.model_fn).get_trace(x.float(), None)
            means.append(trace.nodes[self.observation_site]["fn"].mean.expand(x.shape[0]))
        return torch.stack(means).unsqueeze(-1)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        raise UnsupportedOperationError(
            "a PyroModel wraps arbitrary Python code, which probnn never pickles; save the draws "
            "(posterior.draws) yourself, or write the model as a probnn model class")

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> PyroModel:
        raise UnsupportedOperationError("PyroModel cannot be loaded (it is never saved)")
