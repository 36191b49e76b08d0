"""What a tools/train.py / tools/test.py command line means (utils/cli.py),
checked on the Config the Runner would get."""
import pytest
import torch

from conftest import BASELINES, CONFIGS
from mmseg_autoloss.utils.cli import (config_for_test, config_for_train, parse_test_args,
                                      parse_train_args)

BASELINE = f'{CONFIGS}/baseline/{BASELINES["deeplabv3plus"]}'


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / 'iter_4.pth'
    torch.save({'state_dict': {}}, path)
    return str(path)


def test_train_options(tmp_path):
    cfg = config_for_train(parse_train_args([
        BASELINE, '--work-dir', str(tmp_path), '--resume', '--amp',
        '--cfg-options', 'train_cfg.max_iters=7']))
    assert cfg.work_dir == str(tmp_path) and cfg.resume is True
    assert cfg.train_cfg.max_iters == 7
    if torch.cuda.is_available():
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    else:
        assert (cfg.optim_wrapper.type, cfg.optim_wrapper.dtype) == ('CPUAmpOptimWrapper',
                                                                    'bfloat16')
    plain = config_for_train(parse_train_args([BASELINE]))
    assert plain.work_dir.endswith('work_dirs/' + BASELINES['deeplabv3plus'][:-3])
    assert plain.resume is False and plain.optim_wrapper.type == 'OptimWrapper'


def test_train_loss_params_need_a_matching_loss_and_one_source_per_metric(tmp_path):
    # The CE baseline has no AutoSegLoss to put the preset into.
    with pytest.raises(SystemExit, match=r"no AutoSegLoss with target_metric='mIoU'"):
        config_for_train(parse_train_args([BASELINE, '--loss-preset', 'voc_miou']))
    with pytest.raises(SystemExit, match=r"target_metric \['mIoU'\] more than once"):
        config_for_train(parse_train_args([BASELINE, '--loss-preset', 'voc_miou', 'voc_miou']))
    with pytest.raises(SystemExit, match='does not exist'):
        config_for_train(parse_train_args([str(tmp_path / 'nope.py')]))


def test_test_options(tmp_path, ckpt):
    cfg = config_for_test(parse_test_args([BASELINE, ckpt, '--out', str(tmp_path / 'pred'),
                                           '--show-dir', str(tmp_path / 'vis')]))
    assert cfg.load_from == ckpt
    assert cfg.test_evaluator['format_only'] and cfg.test_evaluator['keep_results']
    assert cfg.test_evaluator['output_dir'] == str(tmp_path / 'pred')
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.visualizer.save_dir == str(tmp_path / 'vis')
    # tta_model comes with mmseg's default_runtime; the tiny data base has no tta_pipeline
    with pytest.raises(SystemExit, match=r"--tta needs \['tta_pipeline'\]"):
        config_for_test(parse_test_args([BASELINE, ckpt, '--tta']))
    with pytest.raises(SystemExit, match=r"checkpoint '.*nope.pth' does not exist"):
        config_for_test(parse_test_args([BASELINE, str(tmp_path / 'nope.pth')]))


def test_parse_cfg_options_reads_words_as_cfg_options_does():
    from mmseg_autoloss.utils.cli import parse_cfg_options
    assert parse_cfg_options(['search.proxy.lr=0.2', "search.reward=['mIoU', 'BF1']",
                              'search.proxy.warm_start=None']) == {
        'search.proxy.lr': 0.2, 'search.reward': ['mIoU', 'BF1'],
        'search.proxy.warm_start': None}
    assert parse_cfg_options([]) == {}
