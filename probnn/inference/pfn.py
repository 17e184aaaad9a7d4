"""``method="pfn"``: amortized Bayesian inference with a pre-trained prior-data fitted network.

A PFN trained on datasets from a model's prior (:mod:`probnn.inference.pretrain`) returns that
prior's posterior predictive for a new dataset in a single forward pass: no sampling, no
optimisation (Müller et al., "Transformers Can Do Bayesian Inference", ICLR 2022).

``probnn.fit(model, x, y, method="pfn")`` uses

* the PFN passed as ``checkpoint=`` (a :class:`probnn.models.pfn.PFN`, a file written by
  ``probnn pretrain`` -- ``model.safetensors`` or a training ``checkpoint.safetensors`` -- or the
  folder holding them), or else
* the checkpoint shipped inside the package for the model's class (:data:`SHIPPED_CHECKPOINTS`:
  GP regression with hyperpriors on lengthscales, output scale and noise, ``d <= 3``, up to 50
  training points). Nothing is downloaded; nothing is trained.

Normalisation matches training: inputs are rescaled to the unit cube with the training data's
bounding box, ``x' = (x - min) / (max - min)`` per feature (a feature with zero range is only
shifted), because the PFN was trained on ``x ~ U[0, 1]^d``; targets are standardised inside the
network with the training set's mean and standard deviation, exactly as during training, and the
predictive is mapped back to the original units (a :class:`probnn.predictive.BarPredictive`).

How a model adds the backend: add ``"pfn": "probnn.inference.pfn:fit_pfn"`` to its ``backends``,
make sure its prior can be sampled (the prior contract: ``sample_prior_batch``), pre-train a PFN on
it (``probnn pretrain`` with a preset in :mod:`probnn.inference.pfn_priors`, or
:func:`probnn.inference.pretrain.pretrain` with any prior), and either pass ``checkpoint=`` at fit
time or ship the file and list it in :data:`SHIPPED_CHECKPOINTS` (or set a class attribute
``default_pfn_checkpoint`` to its path).
"""

from __future__ import annotations

import functools
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from probnn import io
from probnn.errors import CheckpointError, InputError
from probnn.models.pfn import PFN
from probnn.posterior import Posterior
from probnn.predictive.bar import BarPredictive
from probnn.random import GeneratorLike

#: Folder of the checkpoints shipped with probnn.
CHECKPOINT_DIRECTORY = Path(__file__).resolve().parents[1] / "checkpoints"
#: Model class name -> shipped PFN file (inside :data:`CHECKPOINT_DIRECTORY`).
SHIPPED_CHECKPOINTS: dict[str, str] = {"GP": "pfn_gp_hyperprior.safetensors"}
#: Prior preset name -> shipped PFN file: ``checkpoint="gp-hyperprior-raw"`` picks a shipped network by
#: the prior it answers for (see :mod:`probnn.inference.pfn_priors`).
SHIPPED_BY_PRIOR: dict[str, str] = {"gp": "pfn_gp_fixed.safetensors",
                                    "gp-hyperprior": "pfn_gp_hyperprior.safetensors",
                                    "gp-hyperprior-raw": "pfn_gp_hyperprior_raw.safetensors"}


def default_checkpoint(model: Any) -> Path:
    """Path of the shipped PFN for ``model`` (raises if none ships for its class)."""
    explicit = getattr(model, "default_pfn_checkpoint", None)
    if explicit:
        return Path(explicit)
    name = SHIPPED_CHECKPOINTS.get(type(model).__name__)
    if name is None:
        raise CheckpointError(
            f"no pre-trained PFN ships for {type(model).__name__}; train one on its prior with "
            "`probnn pretrain` (or probnn.inference.pretrain.pretrain) and pass checkpoint=<file or PFN>")
    path = CHECKPOINT_DIRECTORY / name
    if not path.exists():
        raise CheckpointError(f"the shipped PFN checkpoint {path} is missing from this installation")
    return path


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, modified: float) -> PFN:
    return load_pfn(path, use_cache=False)


def load_pfn(source: str | Path | PFN, *, use_cache: bool = True) -> PFN:
    """A :class:`PFN` from a PFN object, a ``model.safetensors``, a training checkpoint, their folder, or
    the prior name of a shipped network (:data:`SHIPPED_BY_PRIOR`)."""
    if isinstance(source, PFN):
        return source
    if isinstance(source, str) and source in SHIPPED_BY_PRIOR and not Path(source).exists():
        source = CHECKPOINT_DIRECTORY / SHIPPED_BY_PRIOR[source]
    path = Path(source)
    if path.is_dir():
        from probnn.inference.pretrain import CHECKPOINT_FILENAME
        from probnn.inference.pretrain_cli import MODEL_FILENAME

        path = path / MODEL_FILENAME if (path / MODEL_FILENAME).exists() else path / CHECKPOINT_FILENAME
    if use_cache and path.exists():
        return _load_cached(str(path.resolve()), path.stat().st_mtime)
    loaded = io.load(path)
    from probnn.inference.pretrain import PretrainCheckpoint

    if isinstance(loaded, PretrainCheckpoint):
        loaded = loaded.build_module()
    if not isinstance(loaded, PFN):
        raise CheckpointError(f"{path} holds a {type(loaded).__name__}, not a PFN")
    loaded.eval()
    return loaded


@io.register
class PFNPosterior(Posterior):
    """Posterior predictive computed by a PFN: ``predict(x)`` returns a :class:`BarPredictive`.

    The training set's keys/values are computed once at construction and reused for every call.
    """

    method = "pfn"

    def __init__(self, model: Any, network: PFN, x: torch.Tensor, y: torch.Tensor, *, rescale_inputs: bool = True,
                 fit_info: dict[str, Any] | None = None) -> None:
        super().__init__(model, num_features=x.shape[-1], fit_info=fit_info)
        self.network = network.eval()
        self.x_train = x.to(torch.float64)
        self.y_train = y.to(torch.float64)
        self.rescale_inputs = bool(rescale_inputs)
        if self.rescale_inputs:
            self.input_lower = self.x_train.min(0).values
            spread = self.x_train.max(0).values - self.input_lower
            self.input_range = torch.where(spread > 0, spread, torch.ones_like(spread))
        else:
            self.input_lower = torch.zeros(x.shape[-1], dtype=torch.float64)
            self.input_range = torch.ones(x.shape[-1], dtype=torch.float64)
        with torch.no_grad():
            self.context = self.network.condition(self.transform_inputs(self.x_train)[None], self.y_train[None])

    def transform_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Map inputs into the unit cube of the training data's bounding box."""
        return (x.to(torch.float64) - self.input_lower) / self.input_range

    def predict(self, x: torch.Tensor) -> BarPredictive:
        """Posterior predictive of ``y`` at ``x`` ``[m, d]``: a bar distribution with batch ``[m]``."""
        x = self.check_inputs(x)
        # differentiable in x when x requires grad (acquisition optimisers use it); else no graph is built
        with torch.set_grad_enabled(torch.is_grad_enabled() and x.requires_grad):
            predictive = self.network.predictive(self.context, self.transform_inputs(x)[None])
        return predictive.select(0)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tensors = {"x_train": self.x_train, "y_train": self.y_train}
        config: dict[str, Any] = {"network": io.encode_child(self.network, "network", tensors),
                                  "rescale_inputs": self.rescale_inputs, "fit_info": self.fit_info, "model": None}
        try:
            config["model"] = io.encode_child(self.model, "model", tensors)
        except Exception:
            config["model_name"] = type(self.model).__name__
            for key in [k for k in tensors if k.startswith("model.")]:
                del tensors[key]
        return config, tensors

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> PFNPosterior:
        network = io.decode_child(config["network"], "network", tensors)
        model = io.decode_child(config["model"], "model", tensors) if config.get("model") else None
        posterior = cls(model, network, tensors["x_train"], tensors["y_train"],
                        rescale_inputs=config["rescale_inputs"], fit_info=config["fit_info"])
        return posterior


def fit_pfn(model: Any, x: torch.Tensor, y: torch.Tensor, *, checkpoint: str | Path | PFN | None = None,
            rescale_inputs: bool = True, generator: GeneratorLike = None,
            progress: bool | None = None) -> PFNPosterior:
    """Posterior predictive of ``model``'s prior given ``(x, y)`` from a pre-trained PFN.

    Args:
        model: the model whose prior the PFN was trained on (for the shipped GP checkpoint: a
            ``probnn.models.GP``; its own hyperparameter values are not used -- the shipped PFN
            integrates over the hyperpriors it was trained with, listed in
            ``posterior.fit_info["prior"]``).
        x: inputs ``[n, d]`` (``d`` at most the PFN's ``max_features``).
        y: targets ``[n]``.
        checkpoint: a PFN, a file written by ``probnn pretrain`` or its folder, or the name of a
            shipped network's prior (``"gp-hyperprior"``, ``"gp-hyperprior-raw"``, ``"gp"``); default:
            the checkpoint shipped for ``type(model)``.
        rescale_inputs: rescale inputs to the unit cube with the data's bounding box (as the PFN's
            training inputs were); ``False`` when ``x`` already lives in the prior's input domain.
        generator: unused (a PFN prediction is deterministic); accepted for a uniform signature.
        progress: unused (one forward pass).

    Returns:
        A :class:`PFNPosterior`.
    """
    del generator, progress
    if y.ndim != 1:
        raise InputError(f"method='pfn' takes a single output: y must be [num_points]; got {tuple(y.shape)}")
    started = time.perf_counter()
    source = checkpoint if checkpoint is not None else default_checkpoint(model)
    network = load_pfn(source)
    if x.shape[-1] > network.max_features:
        raise InputError(f"x has {x.shape[-1]} features but this PFN serves at most {network.max_features}; "
                         "pre-train one for more features (probnn pretrain --features)")
    max_context = network.metadata.get("max_context")
    if max_context is not None and x.shape[0] > int(max_context):
        warnings.warn(f"the PFN was trained with at most {max_context} training points; with {x.shape[0]} its "
                      "predictions are extrapolations of what it learned", stacklevel=2)
    ensure = getattr(model, "ensure_kernel", None)
    if callable(ensure):
        ensure(x.shape[-1])
    fit_info = {"checkpoint": str(source) if not isinstance(source, PFN) else "in-memory PFN",
                "prior": network.metadata.get("prior_description", network.metadata.get("prior")),
                "num_parameters": network.num_parameters()}
    posterior = PFNPosterior(model, network, x, y, rescale_inputs=rescale_inputs, fit_info=fit_info)
    posterior.fit_info["condition_seconds"] = time.perf_counter() - started
    return posterior
