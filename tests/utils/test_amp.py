import pytest
import torch
from mmseg.registry import OPTIM_WRAPPERS

import mmseg_autoloss  # noqa: F401


def test_cpu_amp_wrapper_autocasts_and_steps():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    before = model.weight.detach().clone()
    wrapper = OPTIM_WRAPPERS.build(dict(type='CPUAmpOptimWrapper',
                                        optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert model.weight.dtype == torch.float32
    assert not torch.equal(model.weight, before)


def test_cpu_amp_wrapper_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="dtype must be 'bfloat16' or 'float16', got 'int8'"):
        OPTIM_WRAPPERS.build(dict(type='CPUAmpOptimWrapper', dtype='int8',
                                  optimizer=torch.optim.SGD(torch.nn.Linear(2, 2).parameters(),
                                                            lr=0.1)))
