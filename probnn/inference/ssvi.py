"""Sparse subspace variational inference (SSVI) for Bayesian neural networks.

Li, Miao, Qiu & Zhang, "Training Bayesian Neural Networks with Sparse Subspace Variational
Inference", ICLR 2024 (arXiv 2402.11025).

The variational family is mean-field Gaussian over a *sparse* set of active weights,
``q(w_j) = N(mu_j, softplus(rho_j)^2)`` if ``m_j = 1`` and ``w_j = 0`` otherwise, with the masks
``m`` kept at a fixed per-layer density for the whole of training. Training alternates

* Adam steps on ``(mu, rho)`` of the active weights for the tempered, warmed-up objective

      L(t) = mean_i NLL(y_i | f(x_i; w)) + beta(t) * KL(q || p) / N,
      beta(t) = kl_weight * min(1, t / (kl_warmup * T)),

  with ``w`` drawn by local reparameterisation (:mod:`probnn.inference.sparse_layers`) and the KL
  in closed form over active weights against ``N(0, s_l^2)`` (``s_l`` per layer, see
  :func:`prior_stds`);
* every ``update_every`` steps until ``update_until * T``: removal-and-addition of a cosine-decayed
  fraction of the active weights (:mod:`probnn.inference.sparse_masks`).

The posterior keeps only the active weights; :meth:`SSVIPosterior.get_state` stores them as
(flat index, value) pairs. FLOPs are counted from the active weights (``fit_info["flops"]``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as functional

from probnn import io
from probnn.errors import InputError, MethodError
from probnn.inference.sparse_masks import NEW_WEIGHT_STDS, update_fraction, update_layer_mask
from probnn.inference.sparse_network import KL_NORMALISATIONS, SparseVariationalNetwork, spec_from_model
from probnn.inference.sparse_scores import REMOVAL_SCORES
from probnn.posterior import Posterior
from probnn.predictive import CategoricalPredictive, GaussianPredictive, MixturePredictive, Predictive
from probnn.progress import progress_bar
from probnn.random import GeneratorLike, as_generator, derive_seed
from probnn.validation import check_positive_int, check_probability

#: FLOPs charged per active weight per step for the closed-form KL and its gradient, and for the
#: Adam update of (mu, rho) (about 10 elementwise operations per parameter, 2 parameters).
KL_AND_OPTIMIZER_FLOPS_PER_WEIGHT = 30
#: FLOPs charged per weight per mask update: the score of each active weight (~20: erf, exp, sqrt)
#: and the two top-k selections over the layer (~2 per entry).
MASK_UPDATE_FLOPS_PER_WEIGHT = 22
SUPPORTED_LIKELIHOODS = ("gaussian", "categorical")


def prior_stds(model: Any, network: SparseVariationalNetwork, prior_std: float | None
               ) -> list[tuple[float, float]]:
    """Per-layer ``(weight_std, bias_std)`` of the Gaussian prior the KL is taken against.

    ``prior_std`` given: that value for every weight and bias (the paper uses a fixed small std).
    Otherwise the model's own Gaussian prior: ``W_l ~ N(0, weight_std_l^2 / fan_in_l)``,
    ``b_l ~ N(0, bias_std_l^2)`` (contract A's neural-tangents convention), read from a
    :class:`probnn.priors.GaussianWeightPrior` (``model.prior.stds(l)``) or from
    ``model.weight_std`` / ``bias_std`` (:class:`probnn.models.ConvBNN`); other (non-Gaussian)
    priors need an explicit ``prior_std``.
    """
    count = len(network.layers)
    if prior_std is not None:
        value = float(prior_std)
        if not value > 0:
            raise InputError(f"prior_std must be > 0; got {prior_std}")
        return [(value, value)] * count
    fans = [math.prod(layer.weight_mu.shape[1:]) for layer in network.layers]
    prior = getattr(model, "prior", None)
    if prior is not None and hasattr(prior, "stds"):  # probnn.priors.GaussianWeightPrior
        if getattr(prior, "num_layers", None) not in (None, count):
            raise InputError(f"the weight prior is for {prior.num_layers} layers; the network has {count}")
        pairs = [tuple(float(s) for s in prior.stds(index)) for index in range(count)]
        return [(w / math.sqrt(fan), b) for (w, b), fan in zip(pairs, fans, strict=True)]
    source = model
    if not hasattr(source, "weight_std"):
        raise MethodError("method='ssvi' needs a Gaussian weight prior (weight_std/bias_std) or an explicit "
                          f"prior_std=...; {type(getattr(model, 'prior', model)).__name__} has none")

    def per_layer(value: Any) -> list[float]:
        if torch.is_tensor(value):
            value = value.detach().reshape(-1).tolist()
        if isinstance(value, (int, float)):
            return [float(value)] * count
        values = [float(v) for v in value]
        if len(values) == 1:
            return values * count
        if len(values) != count:
            raise InputError(f"the prior has {len(values)} per-layer stds for {count} layers")
        return values

    weight, bias = per_layer(source.weight_std), per_layer(getattr(source, "bias_std", 1.0))
    return [(w / math.sqrt(fan), b) for w, b, fan in zip(weight, bias, fans, strict=True)]


LEARNING_RATE_SCHEDULES = ("constant", "cosine")


def learning_rate_factor(kind: str, num_steps: int):
    """Multiplier of the learning rate at step ``t = 1..T``.

    ``"constant"``: 1. ``"cosine"``: ``(1 + cos(pi (t - 1) / T)) / 2``, from 1 at the first step to
    ``(1 + cos(pi (T - 1) / T)) / 2 ~ 0`` at the last (the paper's ``CosineAnnealingLR``, per step).
    """
    if kind == "constant":
        return lambda step: 1.0
    if kind == "cosine":
        return lambda step: 0.5 * (1.0 + math.cos(math.pi * (step - 1) / num_steps))
    raise InputError(f"learning_rate_schedule must be one of {list(LEARNING_RATE_SCHEDULES)}; got {kind!r}")


def _noise_setting(model: Any) -> tuple[float | None, bool]:
    noise = getattr(model, "noise", 0.1)
    if isinstance(noise, str):
        if noise != "learned":
            raise InputError(f"noise must be a positive float or 'learned'; got {noise!r}")
        return None, True
    if torch.is_tensor(noise):
        noise = float(noise)
    return float(noise), False


def fit_ssvi(model: Any, x: torch.Tensor, y: torch.Tensor, *, density: float = 0.1, num_steps: int = 2000,
             batch_size: int = 128, learning_rate: float = 1e-3, update_every: int = 100,
             update_alpha: float = 0.3, update_until: float = 0.75, removal_score: str = "snr",
             kl_weight: float = 0.01, kl_warmup: float = 0.5, prior_std: float | None = None,
             num_predictive_samples: int = 100, static_mask: bool = False, dtype: str = "float32",
             learning_rate_schedule: str = "cosine", allocation: str = "uniform", new_weight_std: str = "mean",
             kl_normalisation: str = "active", generator: GeneratorLike = None,
             progress: bool | None = None) -> SSVIPosterior:
    """Fit a BNN (or ConvBNN) by sparse subspace VI; return an :class:`SSVIPosterior`.

    Args:
        model: :class:`probnn.models.BNN` (contract A attributes) or :class:`probnn.models.ConvBNN`.
        x: inputs ``[N, in_features]``; y: targets ``[N]`` / ``[N, out]`` (regression) or labels ``[N]``.
        density: fraction of active weights per layer, in (0, 1]. ``1.0`` with ``static_mask=True``
            is dense mean-field VI with the same layers (the benchmark's dense baseline).
        num_steps: Adam steps ``T``; batch_size: minibatch size (``min(batch_size, N)``).
        learning_rate: Adam step size (the peak of the schedule).
        learning_rate_schedule: ``"cosine"`` (default; the paper's cosine annealing to 0 over the
            ``T`` steps, :func:`learning_rate_factor`) or ``"constant"``.
        allocation: how ``density`` is split over layers: ``"uniform"`` (default, the paper's choice:
            every layer at ``density``) or ``"erk"`` (Erdos-Renyi-kernel, small layers denser, the same
            total; recommended for MLPs whose output layer is narrow, see
            :func:`probnn.inference.sparse_masks.layer_densities`).
        new_weight_std: std of newly added weights: ``"mean"`` (the paper: the layer's mean active
            ``rho``) or ``"initial"`` (the small initial std, softplus(-5) = 0.0067); see
            :func:`probnn.inference.sparse_masks.update_layer_mask`.
        update_every: steps between removal-and-addition rounds (paper: 100).
        update_alpha: ``alpha`` of the cosine update fraction (paper: 0.3).
        update_until: fraction of ``T`` after which masks are frozen (paper: 0.75).
        removal_score: ``"snr"`` (SNR of ``|theta|``, default), ``"mean"`` (``|mu|``) or
            ``"mean_over_std"`` (``|mu| / sigma``).
        kl_weight: KL temperature (paper: 0.01, i.e. ``0.01 / N`` per example).
        kl_normalisation: ``"active"`` (default, the paper): the weight KL is summed over the active
            weights, so at density ``d`` it has ~``d`` times the terms of the dense KL and the same
            ``kl_weight`` regularises a sparser network less; ``"dense"``: each layer's sum is scaled by
            ``num_weights / num_active``, so ``kl_weight`` means the same per-weight strength at every
            density (equal to ``"active"`` at density 1; see
            :meth:`probnn.inference.sparse_network.SparseVariationalNetwork.kl_divergence`).
        kl_warmup: fraction of ``T`` over which the KL weight ramps linearly from 0 (paper: 0.5).
        prior_std: a fixed prior std for every weight (paper: 0.005 for ResNets); ``None`` uses the
            model's Gaussian weight prior (see :func:`prior_stds`).
        num_predictive_samples: joint weight draws behind ``posterior.predict``.
        static_mask: keep the initial random mask (no removal/addition): the static-mask ablation.
        dtype: ``"float32"`` (default, fast) or ``"float64"`` for the network parameters.
        generator: seed or ``torch.Generator``: masks, initial means, minibatches and noise.
        progress: show a progress bar (``None``: the global setting).

    FLOPs (``fit_info["flops"]``, per the stated conventions): a training step costs
    ``batch * 3 * forward`` (backward = 2 x forward) with the forward counted from the active weights
    (mean and variance paths of the local reparameterisation), plus KL/Adam costs per active weight;
    each mask update adds a *dense* weight-gradient pass (``|dL/dmu|`` for every inactive weight) and
    the scoring. ``dense_*`` entries count the same network with every weight active.
    """
    likelihood = str(getattr(model, "likelihood", "gaussian"))
    if likelihood not in SUPPORTED_LIKELIHOODS:
        raise MethodError(f"method='ssvi' supports likelihood in {list(SUPPORTED_LIKELIHOODS)}; got {likelihood!r}")
    density = float(density)
    if not 0 < density <= 1:
        raise InputError(f"density must be in (0, 1]; got {density}")
    num_steps = check_positive_int(num_steps, "num_steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    update_every = check_positive_int(update_every, "update_every")
    num_predictive_samples = check_positive_int(num_predictive_samples, "num_predictive_samples")
    if removal_score not in REMOVAL_SCORES:
        raise InputError(f"removal_score must be one of {list(REMOVAL_SCORES)}; got {removal_score!r}")
    if new_weight_std not in NEW_WEIGHT_STDS:
        raise InputError(f"new_weight_std must be one of {list(NEW_WEIGHT_STDS)}; got {new_weight_std!r}")
    if not 0 <= update_alpha < 1:
        raise InputError(f"update_alpha must be in [0, 1); got {update_alpha}")
    check_probability(update_until, "update_until", open_interval=False)
    check_probability(kl_warmup, "kl_warmup", open_interval=False)
    if not kl_weight >= 0:
        raise InputError(f"kl_weight must be >= 0; got {kl_weight}")
    if kl_normalisation not in KL_NORMALISATIONS:
        raise InputError(f"kl_normalisation must be one of {list(KL_NORMALISATIONS)}; got {kl_normalisation!r}")
    if dtype not in ("float32", "float64"):
        raise InputError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    torch_dtype = getattr(torch, dtype)
    generator = as_generator(generator)

    spec = spec_from_model(model)
    network = SparseVariationalNetwork(spec, density=density, generator=generator, dtype=torch_dtype,
                                       allocation=allocation)
    if x.shape[-1] != network.in_features:
        raise InputError(f"x has {x.shape[-1]} features but the model expects {network.in_features}")
    stds = prior_stds(model, network, prior_std)
    noise, learn_noise = _noise_setting(model)
    inputs = x.to(torch_dtype)
    if likelihood == "categorical":
        targets = y.long()
    else:
        targets = y.to(torch_dtype).reshape(y.shape[0], -1)
        if targets.shape[-1] != spec["out_features"]:
            raise InputError(f"y has {targets.shape[-1]} outputs but the model has out_features={spec['out_features']}")
    log_noise = torch.nn.Parameter(torch.tensor(math.log(noise if noise else 0.1), dtype=torch_dtype))
    parameters = list(network.parameters()) + ([log_noise] if learn_noise else [])
    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    schedule = learning_rate_factor(learning_rate_schedule, num_steps)

    num_points = inputs.shape[0]
    batch = min(batch_size, num_points)
    end_step = int(update_until * num_steps)
    permutation = torch.randperm(num_points, generator=generator)
    cursor = 0
    flops = {"training": 0, "mask_updates": 0}
    forward = network.forward_flops()
    dense_forward = network.forward_flops(dense=True)
    history: list[float] = []
    num_updates = 0
    exchanged = 0
    start = time.perf_counter()
    for step in progress_bar(range(1, num_steps + 1), desc="ssvi", progress=progress):
        if cursor + batch > num_points:
            permutation = torch.randperm(num_points, generator=generator)
            cursor = 0
        index = permutation[cursor:cursor + batch]
        cursor += batch
        f = network(inputs[index], generator=generator)
        if likelihood == "categorical":
            nll = functional.cross_entropy(f, targets[index])
        else:
            scale = log_noise.exp()
            nll = (0.5 * ((targets[index] - f) / scale) ** 2 + log_noise + 0.5 * math.log(2 * math.pi)).sum(-1).mean()
        beta = kl_weight * (min(1.0, step / (kl_warmup * num_steps)) if kl_warmup > 0 else 1.0)
        loss = nll + beta * network.kl_divergence(stds, normalisation=kl_normalisation) / num_points
        updating = (not static_mask and step % update_every == 0 and step <= end_step
                    and update_fraction(step, end_step, update_alpha) > 0 and density < 1)
        if updating:
            for layer in network.layers:
                layer.last_weight_mean.retain_grad()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * schedule(step)
        optimizer.step()
        flops["training"] += batch * 3 * forward + KL_AND_OPTIMIZER_FLOPS_PER_WEIGHT * network.num_active
        with torch.no_grad():  # guard: inactive entries stay exactly zero whatever the optimiser does
            for layer in network.layers:
                layer.weight_mu.mul_(layer.mask)
                layer.weight_rho.mul_(layer.mask)
        if updating:
            fraction = update_fraction(step, end_step, update_alpha)
            for layer in network.layers:
                change = update_layer_mask(layer, layer.last_weight_mean.grad, fraction, score=removal_score,
                                           optimizer=optimizer, new_weight_std=new_weight_std)
                exchanged += int(change.removed.numel())
            flops["mask_updates"] += (batch * network.weight_gradient_flops()
                                      + MASK_UPDATE_FLOPS_PER_WEIGHT * network.num_weights)
            num_updates += 1
        history.append(float(loss.detach()))
    seconds = time.perf_counter() - start
    for layer in network.layers:
        layer.last_weight_mean = None
    network.requires_grad_(False)

    dense_training = num_steps * (batch * 3 * dense_forward + KL_AND_OPTIMIZER_FLOPS_PER_WEIGHT * network.num_weights)
    total = flops["training"] + flops["mask_updates"]
    fit_info = {
        "density": density,
        "num_active": network.num_active,
        "num_weights": network.num_weights,
        "layer_density": [layer.num_active / layer.num_weights for layer in network.layers],
        "num_steps": num_steps,
        "batch_size": batch,
        "num_mask_updates": num_updates,
        "num_weights_exchanged": exchanged,
        "removal_score": removal_score,
        "allocation": allocation,
        "new_weight_std": new_weight_std,
        "learning_rate_schedule": learning_rate_schedule,
        "final_learning_rate": optimizer.param_groups[0]["lr"],
        "static_mask": bool(static_mask),
        "kl_weight": kl_weight,
        "kl_normalisation": kl_normalisation,
        "final_loss": history[-1],
        "loss_history": history[:: max(1, num_steps // 200)],
        "train_seconds": seconds,
        "flops": {
            "training_total": total,
            "training_steps": flops["training"],
            "mask_updates": flops["mask_updates"],
            "dense_training_total": dense_training,
            "training_ratio_dense_over_sparse": dense_training / total,
            "prediction_per_example_per_draw": network.prediction_flops(),
            "dense_prediction_per_example_per_draw": network.prediction_flops(dense=True),
            "conventions": "multiply-add = 2 FLOPs; backward = 2 x forward; local reparameterisation "
                           "forward = mean + variance products over active weights; mask updates add a "
                           "dense weight gradient per example of the batch",
        },
    }
    noise_std = float(log_noise.detach().exp()) if likelihood == "gaussian" else None
    return SSVIPosterior(model, network, likelihood=likelihood, noise_std=noise_std,
                         num_features=x.shape[-1], num_predictive_samples=num_predictive_samples,
                         prediction_seed=derive_seed(generator), fit_info=fit_info, x_train=x, y_train=y)


@io.register
class SSVIPosterior(Posterior):
    """Sparse mean-field Gaussian posterior over a BNN's active weights.

    ``predict(x)``: ``num_predictive_samples`` joint weight draws ``w_s ~ q`` (a fixed seed, so the
    same posterior always predicts the same); regression gives a
    :class:`~probnn.predictive.MixturePredictive` of ``N(f_s(x), noise^2)``, classification a
    :class:`~probnn.predictive.CategoricalPredictive` of the averaged class probabilities.
    """

    method = "ssvi"

    def __init__(self, model: Any, network: SparseVariationalNetwork, *, likelihood: str,
                 noise_std: float | None, num_features: int, num_predictive_samples: int,
                 prediction_seed: int, fit_info: dict[str, Any] | None = None,
                 x_train: torch.Tensor | None = None, y_train: torch.Tensor | None = None) -> None:
        super().__init__(model, num_features=num_features, fit_info=fit_info)
        self.network = network
        self.likelihood = likelihood
        self.noise_std = noise_std
        self.num_predictive_samples = int(num_predictive_samples)
        self.prediction_seed = int(prediction_seed)
        self.x_train, self.y_train = x_train, y_train

    @property
    def dtype(self) -> torch.dtype:
        return self.network.layers[0].weight_mu.dtype

    @torch.no_grad()
    def sample_functions(self, x: torch.Tensor, num_samples: int, *,
                         generator: GeneratorLike = None) -> torch.Tensor:
        """``f_s(x)`` for joint draws ``w_s ~ q``: ``[num_samples, n, out]`` (logits for classifiers)."""
        x = self.check_inputs(x)
        generator = as_generator(generator)
        draws = self.network.sample_weights(check_positive_int(num_samples, "num_samples"), generator=generator)
        return self.network.forward_with_weights(x.to(self.dtype), draws).to(x.dtype)

    def predict(self, x: torch.Tensor) -> Predictive:
        x = self.check_inputs(x)
        f = self.sample_functions(x, self.num_predictive_samples, generator=self.prediction_seed)
        if self.likelihood == "categorical":
            return CategoricalPredictive(torch.softmax(f, -1).mean(0))
        f = f[..., 0] if f.shape[-1] == 1 else f
        variance = torch.full_like(f, float(self.noise_std) ** 2)
        return MixturePredictive(GaussianPredictive(f, variance))

    def log_likelihood(self, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Pointwise ``log p(y_i | f_s(x_i))``: ``f [S, n, out]`` -> ``[S, n]``."""
        if self.likelihood == "categorical":
            return torch.log_softmax(f, -1).gather(-1, y.long().reshape(1, -1, 1).expand(f.shape[0], -1, 1))[..., 0]
        target = y.to(f.dtype).reshape(1, y.shape[0], -1)
        scale = float(self.noise_std)
        return (-0.5 * ((target - f) / scale) ** 2 - math.log(scale) - 0.5 * math.log(2 * math.pi)).sum(-1)

    def summary(self) -> dict[str, Any]:
        info = super().summary()
        info.pop("loss_history", None)
        flops = dict(info.get("flops", {}))
        info["flops"] = flops
        per_draw = flops.get("prediction_per_example_per_draw", 0)
        info["prediction_flops_per_example"] = per_draw * self.num_predictive_samples
        return info

    def to_arviz(self, num_samples: int = 200, *, x: torch.Tensor | None = None, y: torch.Tensor | None = None,
                 generator: GeneratorLike = 0) -> Any:
        """``arviz.InferenceData`` with ``num_samples`` draws from ``q`` of the *active* weights.

        Posterior variables ``layer{l}_weight`` ``[chain=1, draw, num_active_l]`` (in the order of the
        flat active indices, stored as the ``active_index`` coordinate) and ``layer{l}_bias``. With
        data (``x, y``, default the training data) a ``log_likelihood`` group ``obs [1, draw, n]``.
        """
        import arviz as az

        generator = as_generator(generator)
        draws = self.network.sample_weights(check_positive_int(num_samples, "num_samples"), generator=generator)
        posterior, coords, dims = {}, {}, {}
        for index, (layer, (weights, bias)) in enumerate(zip(self.network.layers, draws, strict=True)):
            active = layer.mask.reshape(-1).nonzero().squeeze(-1)
            active_draws = weights.reshape(num_samples, -1)[:, active]
            posterior[f"layer{index}_weight"] = active_draws.unsqueeze(0).double().numpy()
            posterior[f"layer{index}_bias"] = bias.unsqueeze(0).double().numpy()
            coords[f"layer{index}_active_index"] = active.numpy()
            dims[f"layer{index}_weight"] = [f"layer{index}_active_index"]
        groups: dict[str, Any] = {"posterior": posterior}
        if x is None and self.x_train is not None:
            x, y = self.x_train, self.y_train
        if x is not None and y is not None:
            x = self.check_inputs(x)
            f = self.network.forward_with_weights(x.to(self.dtype), draws)
            groups["log_likelihood"] = {"obs": self.log_likelihood(f, y).unsqueeze(0).double().numpy()}
            groups["observed_data"] = {"obs": torch.as_tensor(y).double().numpy()}
        return az.from_dict(**groups, coords=coords, dims=dims)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Sparse checkpoint: per layer the flat active indices and their ``mu``/``rho`` values only."""
        tensors: dict[str, torch.Tensor] = {}
        layers = []
        for index, layer in enumerate(self.network.layers):
            active = layer.mask.reshape(-1).nonzero().squeeze(-1)
            tensors[f"layer{index}.active_index"] = active.to(torch.int64)
            tensors[f"layer{index}.weight_mu"] = layer.weight_mu.detach().reshape(-1)[active].clone()
            tensors[f"layer{index}.weight_rho"] = layer.weight_rho.detach().reshape(-1)[active].clone()
            tensors[f"layer{index}.bias_mu"] = layer.bias_mu.detach().clone()
            tensors[f"layer{index}.bias_rho"] = layer.bias_rho.detach().clone()
            layers.append({"shape": list(layer.weight_mu.shape)})
        config = {
            "model": io.encode_child(self.model, "model", tensors),
            "spec": self.network.spec,
            "dtype": str(self.dtype).removeprefix("torch."),
            "layers": layers,
            "likelihood": self.likelihood,
            "noise_std": self.noise_std,
            "num_features": self.num_features,
            "num_predictive_samples": self.num_predictive_samples,
            "prediction_seed": self.prediction_seed,
            "fit_info": self.fit_info,
            "method": self.method,
        }
        return config, tensors

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> SSVIPosterior:
        model = io.decode_child(config["model"], "model", tensors)
        dtype = getattr(torch, config["dtype"])
        network = SparseVariationalNetwork(config["spec"], density=1.0, generator=torch.Generator().manual_seed(0),
                                           dtype=dtype)
        with torch.no_grad():
            for index, layer in enumerate(network.layers):
                active = tensors[f"layer{index}.active_index"]
                for name in ("weight_mu", "weight_rho", "mask"):
                    getattr(layer, name).zero_()
                layer.mask.reshape(-1)[active] = 1.0
                layer.weight_mu.reshape(-1)[active] = tensors[f"layer{index}.weight_mu"].to(dtype)
                layer.weight_rho.reshape(-1)[active] = tensors[f"layer{index}.weight_rho"].to(dtype)
                layer.bias_mu.copy_(tensors[f"layer{index}.bias_mu"])
                layer.bias_rho.copy_(tensors[f"layer{index}.bias_rho"])
        network.requires_grad_(False)
        posterior = cls(model, network, likelihood=config["likelihood"], noise_std=config["noise_std"],
                        num_features=config["num_features"], num_predictive_samples=config["num_predictive_samples"],
                        prediction_seed=config["prediction_seed"], fit_info=config["fit_info"])
        posterior.method = config.get("method", "ssvi")
        return posterior
