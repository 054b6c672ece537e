"""The fused gradient step does what RLlib's TorchLearner.apply_gradients does, with one finiteness check."""

from types import SimpleNamespace

import torch

from cfmarl.policies.learners.fused_step import FusedGradientStepMixin


class _RLlibStandIn:
    def apply_gradients(self, gradients_dict):
        self.fallback_calls += 1


class _Learner(FusedGradientStepMixin, _RLlibStandIn):
    def __init__(self):
        self.fallback_calls = 0
        self._grad_scalers = None
        self._lr_scheduler_classes = None
        self.config = SimpleNamespace(torch_skip_nan_gradients=False)
        self.w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
        self.b = torch.nn.Parameter(torch.tensor([0.5]))
        self._params = {"w": self.w, "b": self.b}
        self._optim = torch.optim.SGD([self.w, self.b], lr=0.1)
        self._module_optimizers = {"m": ["default"]}

    def get_optimizer(self, module_id, name):
        assert (module_id, name) == ("m", "default")
        return self._optim


def test_finite_gradients_step_the_optimizer_without_rllib_checks():
    lrn = _Learner()
    lrn.apply_gradients({"w": torch.tensor([1.0, -1.0]), "b": torch.tensor([2.0])})
    assert lrn.fallback_calls == 0
    assert torch.allclose(lrn.w.detach(), torch.tensor([0.9, 2.1]))  # 1 - 0.1 * 1, 2 + 0.1 * 1
    assert torch.allclose(lrn.b.detach(), torch.tensor([0.3]))


def test_non_finite_gradients_and_special_configs_go_to_rllib():
    for grad in (torch.tensor([float("nan"), 0.0]), torch.tensor([float("inf"), 0.0])):
        lrn = _Learner()
        lrn.apply_gradients({"w": grad, "b": torch.tensor([2.0])})
        assert lrn.fallback_calls == 1 and torch.equal(lrn.w.detach(), torch.tensor([1.0, 2.0]))
    lrn = _Learner()
    lrn.config.torch_skip_nan_gradients = True
    lrn.apply_gradients({"w": torch.tensor([1.0, -1.0]), "b": torch.tensor([2.0])})
    assert lrn.fallback_calls == 1
    lrn = _Learner()
    lrn._lr_scheduler_classes = [object]
    lrn.apply_gradients({"w": torch.tensor([1.0, -1.0]), "b": torch.tensor([2.0])})
    assert lrn.fallback_calls == 1
