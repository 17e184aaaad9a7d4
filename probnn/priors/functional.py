"""Functional priors: fit a BNN's weight prior so that its functions look like a target process's.

Tran, Rossi, Milios & Filippone, "All You Need is a Good Functional Prior for Bayesian Deep Learning",
JMLR 2022 (arXiv 2011.12829). A weight prior ``p_psi(w)`` induces a distribution over functions that
nobody chose. Pick a target process ``p_0`` that expresses the beliefs (a GP with an RBF kernel, a GP
with hyperpriors, an NNGP, a Student-t process: any probnn model with ``sample_prior_functions``), and
solve

    psi* = argmin_psi  D( p_0(f(X_M)),  p_psi(f(X_M)) )

where ``X_M`` is a measurement set redrawn at every step and ``D`` is a distance between the two
distributions of function values, estimated from ``num_function_samples`` draws of each:

* ``"wasserstein"``: the paper's 1-Wasserstein distance through a gradient-penalised Lipschitz critic
  (:class:`probnn.priors.distances.WassersteinDistance`);
* ``"sliced_wasserstein"``, ``"mmd"``: critic-free and faster (see :mod:`probnn.priors.distances`).

Each outer step: draw ``X_M``; draw target functions; draw BNN functions through reparameterised
weight draws ``w = g_psi(eps)`` (so ``d D / d psi`` exists); (for ``"wasserstein"``, update the critic);
take one RMSprop step on ``psi``. The fitted prior plugs into ``BNN(prior=fit.prior)`` and any backend.

Example:
    >>> import gpytorch, probnn
    >>> from probnn.models.bnn import BNN
    >>> from probnn.priors import GaussianWeightPrior, GridMeasurementSet, fit_functional_prior
    >>> kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())
    >>> target = probnn.models.GP(kernel, noise=0.1, mean="zero")
    >>> bnn = BNN(1, hidden=(20,), prior=GaussianWeightPrior(num_layers=2, learnable=True))
    >>> fit = fit_functional_prior(bnn, target, measurement_set=GridMeasurementSet(-3, 3, 30),
    ...                            num_function_samples=32, num_steps=3, distance="sliced_wasserstein",
    ...                            generator=0, progress=False)
    >>> len(fit.history)
    3
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch

from probnn import io
from probnn.errors import InputError, InputTypeError
from probnn.models.base import Model
from probnn.priors.distances import (
    NOTEBOOK_CRITIC_OPTIONS,
    FunctionDistance,
    estimate_wasserstein,
    estimate_wasserstein_notebook,
    make_distance,
)
from probnn.priors.measurement import MeasurementSet, as_measurement_set
from probnn.priors.weight import GaussianWeightPrior, HierarchicalWeightPrior, WeightPrior
from probnn.progress import progress_bar
from probnn.random import GeneratorLike, as_generator, derive_seed
from probnn.validation import check_positive_int


@io.register
class FunctionalPriorFit:
    """Result of :func:`fit_functional_prior`.

    Attributes:
        prior: the fitted :class:`WeightPrior` (use ``BNN(..., prior=fit.prior)``).
        history: the distance estimate at every outer step (``[num_steps]`` floats).
        fit_info: JSON-able facts (distance and its settings, measurement set, time, steps).
    """

    def __init__(self, prior: WeightPrior, history: list[float], fit_info: dict[str, Any] | None = None) -> None:
        self.prior = prior
        self.history = [float(value) for value in history]
        self.fit_info = dict(fit_info or {})

    def __repr__(self) -> str:
        last = f"{self.history[-1]:.4g}" if self.history else "n/a"
        return f"FunctionalPriorFit(prior={type(self.prior).__name__}, steps={len(self.history)}, last distance={last})"

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tensors: dict[str, torch.Tensor] = {"history": torch.tensor(self.history, dtype=torch.float64)}
        config = {"prior": io.encode_child(self.prior, "prior", tensors), "fit_info": self.fit_info}
        return config, tensors

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> FunctionalPriorFit:
        prior = io.decode_child(config["prior"], "prior", tensors)
        return cls(prior, tensors["history"].tolist(), config["fit_info"])

    def save(self, path: Any) -> Any:
        """Save prior, history and fit_info with :func:`probnn.io.save`."""
        return io.save(self, path)


def learnable_copy(prior: WeightPrior, num_layers: int) -> WeightPrior:
    """A copy of ``prior`` whose hyperparameters are trainable.

    A fixed :class:`GaussianWeightPrior` becomes a learnable per-layer one initialised at its current
    stds (the usual starting point, ``N(0, 1)`` in the NT convention); a :class:`HierarchicalWeightPrior`
    becomes one with learnable per-layer shapes and rates at its current values (the paper's family);
    any other prior must already own ``nn.Parameter``\\ s (e.g. a flow prior).
    """
    if isinstance(prior, GaussianWeightPrior) and not prior.learnable:
        weight_stds = [float(prior.stds(layer)[0]) for layer in range(num_layers)]
        bias_stds = [float(prior.stds(layer)[1]) for layer in range(num_layers)]
        return GaussianWeightPrior(weight_stds, bias_stds, learnable=True)
    if isinstance(prior, HierarchicalWeightPrior) and not (prior.learnable and prior.num_layers == num_layers):
        return prior.learnable_copy(num_layers)
    prior = copy.deepcopy(prior)
    if not any(True for _ in prior.parameters()):
        raise InputError(f"{type(prior).__name__} has no learnable parameters; build it with learnable=True "
                         "(or use a GaussianWeightPrior, which is made learnable automatically)")
    return prior.requires_grad_(True)


def _flat(functions: torch.Tensor) -> torch.Tensor:
    """``[S, M, out] -> [S, M * out]`` in float32 (the BNN's dtype)."""
    return functions.reshape(functions.shape[0], -1).to(torch.float32)


def fit_functional_prior(bnn: Model, target: Model, *, measurement_set: MeasurementSet | torch.Tensor,
                         num_function_samples: int = 128, num_steps: int = 200,
                         distance: str | FunctionDistance = "wasserstein",
                         distance_options: dict[str, Any] | None = None, learning_rate: float = 0.05,
                         learning_rate_schedule: str = "constant", optimizer: str = "rmsprop",
                         generator: GeneratorLike = None, progress: bool | None = None) -> FunctionalPriorFit:
    """Fit ``bnn.prior``'s hyperparameters so that the BNN's prior over functions matches ``target``'s.

    Args:
        bnn: a :class:`probnn.models.bnn.BNN` (anything with ``prior``, ``layer_shapes`` and
            ``forward_with_weights``). Its prior is copied (never modified): a fixed
            :class:`GaussianWeightPrior` or :class:`HierarchicalWeightPrior` becomes a learnable per-layer
            one; other priors must be built with learnable parameters.
        target: any probnn :class:`Model` with a prior over functions; only
            ``target.sample_prior_functions(x [M, d], S, generator=...) -> [S, M, out]`` is used
            (hyperparameters are redrawn per function for hierarchical targets).
        measurement_set: a :class:`MeasurementSet` (redrawn every step) or fixed inputs ``[M, d]``.
        num_function_samples: functions ``S`` drawn from each side per step (paper: 512 for the 1D toy,
            128 for UCI).
        num_steps: outer (prior) steps (paper: 800 toy, 200 UCI).
        distance: ``"wasserstein"`` (critic), ``"sliced_wasserstein"``, ``"mmd"``, or an instance.
        distance_options: keyword options of the named distance (e.g. ``{"num_critic_steps": 5}``;
            ``probnn.priors.distances.NOTEBOOK_CRITIC_OPTIONS`` is the official code's critic schedule:
            a re-initialised critic trained up to 200 Adagrad steps per prior step on an independent
            batch of functions, which this function then draws at every step).
        learning_rate: optimizer step size on the prior's (log-scale) parameters (paper: 0.05).
        learning_rate_schedule: ``"constant"`` (the paper's) or ``"cosine"``: the step size decays as
            ``learning_rate * (1 + cos(pi t / num_steps)) / 2`` so the last steps stop jittering the
            hyperparameters (with a constant RMSprop step each log-std moves by about
            ``learning_rate`` per step however close it is to the optimum).
        optimizer: ``"rmsprop"`` (the paper's) or ``"adam"`` (betas 0.9, 0.999); Adam's steps shrink with
            the gradient's signal-to-noise ratio, which suits priors with many parameters such as flows.
        generator: seed or ``torch.Generator``; the same seed gives the same fit.
        progress: show a progress bar with the current distance.

    Returns:
        :class:`FunctionalPriorFit` with ``prior`` (the fitted weight prior) and ``history``.
    """
    for attribute in ("prior", "layer_shapes", "forward_with_weights"):
        if not hasattr(bnn, attribute):
            raise InputTypeError(f"bnn must be a probnn BNN (it needs .{attribute}); got {type(bnn).__name__}")
    if not hasattr(target, "sample_prior_functions"):
        raise InputTypeError(f"target must be a probnn model with sample_prior_functions; got {type(target).__name__}")
    num_function_samples = check_positive_int(num_function_samples, "num_function_samples", minimum=2)
    num_steps = check_positive_int(num_steps, "num_steps")
    if not learning_rate > 0:
        raise InputError(f"learning_rate must be positive; got {learning_rate!r}")
    if learning_rate_schedule not in ("constant", "cosine"):
        raise InputError(f"learning_rate_schedule must be 'constant' or 'cosine'; got {learning_rate_schedule!r}")
    if optimizer not in ("rmsprop", "adam"):
        raise InputError(f"optimizer must be 'rmsprop' or 'adam'; got {optimizer!r}")
    measurement = as_measurement_set(measurement_set)
    if measurement.num_features != bnn.layer_shapes[0][0]:
        raise InputError(f"measurement_set has {measurement.num_features} features but the BNN takes "
                         f"{bnn.layer_shapes[0][0]}")
    generator = as_generator(generator)
    distance_function = make_distance(distance, **(distance_options or {}))
    independent_critic_samples = bool(getattr(distance_function, "independent_critic_samples", False))
    calls_before = len(getattr(distance_function, "num_critic_steps_taken", []))
    layer_shapes = bnn.layer_shapes
    prior = learnable_copy(bnn.prior, len(layer_shapes))
    parameters = [parameter for parameter in prior.parameters() if parameter.requires_grad]
    step_rule = (torch.optim.Adam if optimizer == "adam" else torch.optim.RMSprop)(parameters, lr=learning_rate)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(step_rule, num_steps)
                if learning_rate_schedule == "cosine" else None)
    history: list[float] = []
    start = time.perf_counter()

    def sample_pair(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Target and BNN function values at ``x`` (``[num_function_samples, m]`` each); gradients reach
        the prior's parameters through the BNN's reparameterised weights."""
        with torch.no_grad():
            target_values = _flat(target.sample_prior_functions(x, num_function_samples,
                                                                generator=derive_seed(generator)))
        layers = prior.sample(layer_shapes, num_function_samples, generator=generator)
        return target_values, _flat(bnn.forward_with_weights(x.to(torch.float32), layers))

    bar = progress_bar(range(num_steps), desc=f"functional prior ({distance_function.name})", progress=progress)
    for _ in bar:
        x = measurement.sample(generator)
        target_functions, model_functions = sample_pair(x)
        if independent_critic_samples:  # a second batch at the same inputs, for the critic only
            with torch.no_grad():
                critic_target, critic_model = sample_pair(x)
            loss = distance_function(target_functions, model_functions, generator=generator,
                                     critic_target=critic_target, critic_model=critic_model)
        else:
            loss = distance_function(target_functions, model_functions, generator=generator)
        step_rule.zero_grad(set_to_none=True)
        loss.backward()
        step_rule.step()
        if schedule is not None:
            schedule.step()
        history.append(float(loss.detach()))
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(distance=f"{history[-1]:.4f}")
    fit_info = {
        "distance": distance_function.config(),
        **({"mean_critic_steps": sum(taken) / len(taken)}
           if (taken := getattr(distance_function, "num_critic_steps_taken", [])[calls_before:]) else {}),
        "measurement_set": measurement.config(),
        "num_function_samples": num_function_samples,
        "num_steps": num_steps,
        "learning_rate": learning_rate,
        "learning_rate_schedule": learning_rate_schedule,
        "optimizer": "Adam" if optimizer == "adam" else "RMSprop",
        "target": type(target).__name__,
        "time_seconds": time.perf_counter() - start,
    }
    return FunctionalPriorFit(prior, history, fit_info)


#: Functions drawn per forward pass when building evaluation pools (bounds memory: a 3 x 50 BNN on 200
#: inputs holds ``1024 * 200 * 50`` activations per layer, about 40 MB in float32).
_CHUNK = 1024


def draw_functions(sampler: Any, count: int) -> torch.Tensor:
    """``count`` functions ``[count, M * out]`` from ``sampler(n) -> [n, M, out]``, in chunks, without grad."""
    parts = []
    with torch.no_grad():
        for start in range(0, count, _CHUNK):
            parts.append(_flat(sampler(min(_CHUNK, count - start))))
    return torch.cat(parts)


def function_space_distance(bnn: Model, target: Model, x: torch.Tensor, *, prior: WeightPrior | None = None,
                            num_function_samples: int | None = None, num_held_out: int | None = None,
                            distance: str = "wasserstein", num_critic_steps: int | None = None,
                            batch_size: int | None = None, estimator: str = "held_out", num_repeats: int = 10,
                            critic_options: dict[str, Any] | None = None, return_standard_error: bool = False,
                            generator: GeneratorLike = None) -> float | tuple[float, float]:
    """An independent estimate of ``D(target, BNN with prior)`` on fixed inputs ``x [M, d]``.

    For ``"wasserstein"``, two estimators (``estimator=``); both score functions their critic never saw,
    so two independent sample sets of one process give ``0 +- standard error``:

    * ``"held_out"`` (default; the stronger one): ``num_function_samples`` (default 16384) training and
      ``num_held_out`` (default 4096) held-out functions are drawn from each side; a fresh critic takes
      ``num_critic_steps`` (default 1500) Adam steps on minibatches of ``batch_size`` (default 256) from
      the training pools, and the dual is evaluated on the held-out functions (see
      :func:`probnn.priors.distances.estimate_wasserstein`). The standard error is that of the held-out
      dual for the trained critic.
    * ``"notebook"``: the official code's per-step estimate, repeated ``num_repeats`` times (see
      :func:`probnn.priors.distances.estimate_wasserstein_notebook`): a re-initialised critic trained
      full-batch with Adagrad on an independent bag of ``num_function_samples`` (default 512, the 1D
      notebooks') functions per side, its dual evaluated on a fresh batch of as many. ``critic_options``
      sets the critic schedule (default ``NOTEBOOK_CRITIC_OPTIONS``; ``NOTEBOOK_1D_CRITIC_OPTIONS`` is the
      1D notebooks'); ``num_critic_steps``, if given, overrides its step count. Returns the mean over
      repeats and its standard error ``std / sqrt(num_repeats)``.

    Every prior compared gets the same critic budget (e.g. the fixed ``N(0, 1)`` prior before fitting and
    the fitted prior afterwards). The other distances are evaluated directly on ``num_held_out`` functions
    per side.

    Returns:
        the estimate, or ``(estimate, standard_error)`` with ``return_standard_error`` (Wasserstein only).
    """
    if estimator not in ("held_out", "notebook"):
        raise InputError(f"estimator must be 'held_out' or 'notebook'; got {estimator!r}")
    if estimator == "notebook":
        if distance != "wasserstein":
            raise InputError(f"estimator='notebook' estimates the Wasserstein distance only; got distance={distance!r}")
        for label, value in (("num_held_out", num_held_out), ("batch_size", batch_size)):
            if value is not None:
                raise InputError(f"{label} is not used by estimator='notebook' (its critic trains full-batch on "
                                 "an independent bag of num_function_samples functions and scores a fresh batch)")
    num_function_samples = check_positive_int(
        num_function_samples if num_function_samples is not None else (512 if estimator == "notebook" else 16384),
        "num_function_samples", minimum=2)
    num_held_out = check_positive_int(4096 if num_held_out is None else num_held_out, "num_held_out", minimum=2)
    generator = as_generator(generator)
    prior = bnn.prior if prior is None else prior
    x = torch.as_tensor(x, dtype=torch.float64)

    def target_sampler(count: int) -> torch.Tensor:
        return target.sample_prior_functions(x, count, generator=derive_seed(generator))

    def model_sampler(count: int) -> torch.Tensor:
        return bnn.forward_with_weights(x.to(torch.float32), prior.sample(bnn.layer_shapes, count, generator=generator))

    if estimator == "notebook":
        options = dict(critic_options or NOTEBOOK_CRITIC_OPTIONS)
        if num_critic_steps is not None:
            options["num_critic_steps"] = check_positive_int(num_critic_steps, "num_critic_steps")
        values, _ = estimate_wasserstein_notebook(
            lambda count: draw_functions(target_sampler, count), lambda count: draw_functions(model_sampler, count),
            num_function_samples=num_function_samples, num_repeats=check_positive_int(num_repeats, "num_repeats",
                                                                                         minimum=2),
            critic_options=options, generator=generator)
        mean = sum(values) / len(values)
        if not return_standard_error:
            return mean
        return mean, float(torch.tensor(values, dtype=torch.float64).std() / len(values) ** 0.5)
    if distance == "wasserstein":
        target_functions = draw_functions(target_sampler, num_function_samples + num_held_out)
        model_functions = draw_functions(model_sampler, num_function_samples + num_held_out)
        return estimate_wasserstein(target_functions[:num_function_samples], model_functions[:num_function_samples],
                                    target_held_out=target_functions[num_function_samples:],
                                    model_held_out=model_functions[num_function_samples:],
                                    num_critic_steps=1500 if num_critic_steps is None else num_critic_steps,
                                    batch_size=256 if batch_size is None else batch_size,
                                    return_standard_error=return_standard_error, generator=generator)
    if return_standard_error:
        raise InputError("return_standard_error is only available for distance='wasserstein'")
    target_functions = draw_functions(target_sampler, num_held_out)
    model_functions = draw_functions(model_sampler, num_held_out)
    with torch.no_grad():
        return float(make_distance(distance)(target_functions, model_functions, generator=generator))
