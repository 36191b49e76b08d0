import os
import pickle

import pytest
import torch

import mmseg_autoloss  # noqa: F401  (registers the allow-list)
from mmengine.logging import HistoryBuffer, MessageHub


def test_mmengine_checkpoint_content_loads_weights_only(tmp_path):
    hub = MessageHub.get_instance('ckpt_test')
    for v in (1.0, 2.0, 3.5):
        hub.update_scalar('train/loss', v)
    hub.update_info('iter', 3)
    ckpt = dict(meta=dict(iter=3, dataset_meta=dict(classes=('a', 'b'))),
                state_dict={'w': torch.ones(2)}, message_hub=hub.state_dict())
    path = tmp_path / 'c.pth'
    torch.save(ckpt, path)
    loaded = torch.load(path, weights_only=True)
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.mean() == pytest.approx(6.5 / 3)
    assert buf.statistics('current') == 3.5


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


class _EvilGetattr:
    # getattr is allowed only for HistoryBuffer's statistics methods
    def __reduce__(self):
        import numpy as np
        return (getattr, (np.ndarray, 'tofile'))


@pytest.mark.parametrize('payload', [_Evil(), _EvilGetattr()])
def test_arbitrary_code_is_still_refused(tmp_path, payload):
    path = tmp_path / 'evil.pth'
    torch.save({'x': payload}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
