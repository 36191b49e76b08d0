"""The math imports and runs with mmseg, mmengine and mmcv unimportable."""
import os.path as osp
import subprocess
import sys
import textwrap

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

SCRIPT = textwrap.dedent('''
    import sys

    class Blocker:
        """Refuses the OpenMMLab packages, as in an environment without them."""
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('mmseg', 'mmengine', 'mmcv'):
                raise ImportError(f'{name} is blocked')
            return None

    sys.meta_path.insert(0, Blocker())
    import torch
    from mmseg_autoloss.surrogates import (build_g_functions, get_preset, relaxed_metric)
    import mmseg_autoloss
    p = get_preset('voc_bf1')
    gs = build_g_functions(4, p['num_pieces'], control_points=p['control_points'])
    logits = torch.randn(2, 3, 16, 16, requires_grad=True)
    label = torch.randint(0, 3, (2, 16, 16))
    loss = 1 - relaxed_metric(logits, label, 'BF1', gs, from_logits=True, tol=2)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    assert not mmseg_autoloss.HAS_MMSEG
    leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('mmseg', 'mmengine', 'mmcv'))
    assert not leaked, leaked
    print('ok', float(loss))
''')


def test_surrogates_import_without_openmmlab():
    proc = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={'PYTHONPATH': REPO, 'PATH': ''})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith('ok')
