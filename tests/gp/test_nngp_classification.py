"""Scale-mixture NNGP classification: KL closed form, separable problems, save/load."""

from __future__ import annotations

import torch
from torch.distributions import Gamma, InverseGamma

import probnn
from probnn.gp.classification import ScaleMixtureNNGPClassifier, inverse_gamma_kl

D = torch.float64


def test_inverse_gamma_kl_closed_form() -> None:
    alpha, beta, a, b = (torch.tensor(v, dtype=D) for v in (3.5, 1.2, 2.0, 2.5))
    value = inverse_gamma_kl(alpha, beta, a, b)
    # KL is invariant under the bijection s2 -> 1/s2, which maps IG(alpha, beta) to Gamma(alpha, rate beta).
    torch.testing.assert_close(value, torch.distributions.kl_divergence(Gamma(alpha, beta), Gamma(a, b)))
    q = InverseGamma(alpha, beta)
    draws = q.sample((200000,))
    log_ratio = q.log_prob(draws) - InverseGamma(a, b).log_prob(draws)
    standard_error = float(log_ratio.std() / 200000**0.5)
    assert abs(float(log_ratio.mean() - value)) < 5 * standard_error


def _blobs(num_classes: int, n: int = 90):
    generator = torch.Generator().manual_seed(0)
    centres = 3.0 * torch.randn(num_classes, 2, generator=generator, dtype=D)
    labels = torch.arange(n) % num_classes
    x = centres[labels] + 0.4 * torch.randn(n, 2, generator=generator, dtype=D)
    return x, labels


def test_binary_and_multiclass_separable(tmp_path) -> None:
    for num_classes in (2, 3):
        x, y = _blobs(num_classes)
        for scale_prior in ((2.0, 2.0), None):
            model = ScaleMixtureNNGPClassifier(num_classes, scale_prior=scale_prior)
            posterior = probnn.fit(model, x, y, method="svgp", num_inducing=20, num_steps=150,
                                   learning_rate=0.05, generator=0, progress=False)
            prediction = posterior.predict(x)
            accuracy = float((prediction.predicted_class() == y).double().mean())
            assert accuracy >= 0.97, (num_classes, scale_prior, accuracy)
            assert float(prediction.log_prob(y).mean()) > -0.4
    loaded = probnn.load(posterior.save(tmp_path / "classifier.safetensors"))
    torch.testing.assert_close(loaded.predict(x).probs, prediction.probs)


def test_prior_contract_shapes() -> None:
    model = ScaleMixtureNNGPClassifier(3)
    x = torch.randn(5, 2, dtype=D)
    f = model.sample_prior_functions(x, 4, generator=0)
    assert f.shape == (4, 5, 3)
    labels = model.sample_observations(f, generator=0)
    assert labels.shape == (4, 5, 1) and bool(((labels >= 0) & (labels < 3)).all())
