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


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / 'iter_4.pth'
    torch.save(dict(state_dict={'w': torch.arange(1000.)}, meta=dict(iter=4)), path)
    return path


def test_check_checkpoint_file_accepts_what_torch_loads(saved, tmp_path):
    from mmseg_autoloss.utils.checkpoint import check_checkpoint_file
    check_checkpoint_file(str(saved))
    legacy = tmp_path / 'legacy.pth'
    torch.save({'w': torch.ones(3)}, legacy, _use_new_zipfile_serialization=False)
    check_checkpoint_file(str(legacy))
    assert torch.load(legacy, weights_only=True)['w'].sum() == 3


@pytest.mark.parametrize('damage, msg', [
    ('empty', r'is empty \(0 bytes\)'),
    ('truncated', 'truncated or damaged zip'),
    ('text', 'not a PyTorch checkpoint'),
])
def test_check_checkpoint_file_names_a_damaged_file(saved, damage, msg):
    from mmseg_autoloss.utils.checkpoint import check_checkpoint_file
    data = saved.read_bytes()
    saved.write_bytes({'empty': b'', 'truncated': data[:len(data) // 2],
                       'text': b'version https://git-lfs'}[damage])
    # what torch itself says about the same file
    with pytest.raises(Exception) as raw:
        torch.load(saved, weights_only=True)
    assert str(saved) not in str(raw.value)
    with pytest.raises(ValueError, match=msg) as err:
        check_checkpoint_file(str(saved))
    assert repr(str(saved)) in str(err.value)


def test_check_checkpoint_file_missing(tmp_path):
    from mmseg_autoloss.utils.checkpoint import check_checkpoint_file
    with pytest.raises(FileNotFoundError, match='does not exist'):
        check_checkpoint_file(str(tmp_path / 'nope.pth'))
