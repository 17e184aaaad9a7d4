"""method="pfn" on the other priors of the contract: BNNs (any weight prior, fitted functional priors
included) and the Student-t process, given a PFN pre-trained on that prior."""

import pytest
import torch

import probnn
from probnn.errors import CheckpointError
from probnn.inference.pretrain import PretrainConfig, pretrain
from probnn.models.pfn import PFN
from probnn.predictive.bar import BarPredictive


def trained_pfn(prior) -> PFN:
    torch.manual_seed(0)
    network = PFN.for_prior(prior, PretrainConfig(steps=1, batch_size=4, num_context=(0, 10), num_points=14),
                            num_buckets=20, num_border_batches=2, width=16, depth=1, heads=2)
    pretrain(network, prior, PretrainConfig(steps=15, batch_size=4, num_context=(0, 10), num_points=14),
             progress=False)
    return network


@pytest.mark.parametrize("make", [
    lambda: probnn.models.BNN(1, hidden=(8,), noise=0.1),
    lambda: probnn.gp.ScaleMixtureNNGP(probnn.gp.NNGPKernel(depth=1, activation="relu"), num_features=1),
], ids=["bnn", "student_t_process"])
def test_pfn_backend_on_bnn_and_student_t_priors(make):
    model = make()
    x = torch.rand(9, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.sin(4 * x[:, 0])
    with pytest.raises(CheckpointError, match=type(model).__name__):
        probnn.fit(model, x, y, method="pfn")                 # nothing ships for this prior: say what to do
    network = trained_pfn(model)
    posterior = probnn.fit(model, x, y, method="pfn", checkpoint=network, rescale_inputs=False)
    x_test = torch.linspace(0, 1, 5, dtype=torch.float64).reshape(-1, 1)
    predictive = posterior.predict(x_test)
    assert isinstance(predictive, BarPredictive) and predictive.batch_shape == (5,)
    # the posterior is exactly the network's answer for this context (no hidden rescaling of inputs)
    with torch.no_grad():
        direct = network.predictive(network.condition(x[None], y[None]), x_test[None]).select(0)
    torch.testing.assert_close(predictive.mean, direct.mean)
    torch.testing.assert_close(predictive.log_prob(torch.zeros(5, dtype=torch.float64)),
                               direct.log_prob(torch.zeros(5, dtype=torch.float64)))
