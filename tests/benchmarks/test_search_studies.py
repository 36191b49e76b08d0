"""benchmarks/proxy_fidelity.py and benchmarks/search_efficiency.py at their
--quick size: tables, plots and JSON written; a rerun trains nothing again."""
import json
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from conftest import REPO, subprocess_env

sys.path.insert(0, osp.join(REPO, 'benchmarks'))

import proxy_fidelity  # noqa: E402
import search_efficiency  # noqa: E402
from _common import ResultStore  # noqa: E402


def _run(script, args, cwd):
    return subprocess.run([sys.executable, osp.join(REPO, 'benchmarks', script)] + args,
                          cwd=str(cwd), env=subprocess_env(), capture_output=True, text=True,
                          timeout=600)


def _lines(path):
    return sum(1 for _ in open(path)) if osp.isfile(path) else 0


def _table(text, header_start):
    block = text[text.index(header_start):]
    rows = block[:block.index('\n\n')].splitlines()
    return [[c.strip() for c in r.strip('|').split('|')] for r in rows[2:]]


@pytest.mark.benchmark
@pytest.mark.slow
def test_proxy_fidelity_quick_and_rerun(tmp_path):
    wd, out = tmp_path / 'wd', tmp_path / 'pf.md'
    proc = _run('proxy_fidelity.py', ['--quick', '--work-dir', str(wd), '--out', str(out)],
                tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / 'pf.json').read_text())
    assert res['settings'] == ['scratch4', 'warm2+2@0.1'] and len(res['panel']) == 3
    assert res['picked'] in res['settings']
    rows = _table(out.read_text(), '| proxy setting |')
    assert [r[0] for r in rows] == ['scratch4', 'warm2+2@0.1']
    assert [r[3] for r in rows] == ['32', '18']  # 8 x 4; 2 + 8 x 2
    for r in res['rows']:
        assert -1 <= r['rho'] <= 1 or r['rho'] != r['rho']  # nan when a side is constant
        assert len(r['mean_reward']) == 3
    assert all(len(t) == 1 and 0 <= t[0] <= 100 for t in res['test'])
    assert (tmp_path / 'pf.png').stat().st_size > 1000
    # the warm-start setting's search trained one shared run and 3 proxies
    search_dir = wd / 'proxies' / 'warm2+2@0.1_seed0'
    ledger = search_dir / 'ledger.jsonl'
    assert [json.loads(l)['round'] for l in ledger.read_text().splitlines()] == [-1, 0, 0, 0]
    # '@0.1' is the proxies' learning rate, the shared run's too
    warm_cfg = Config.fromfile(str(search_dir / 'warm_start' / 'warm_start_config.py'))
    assert warm_cfg.optim_wrapper.optimizer.lr == 0.1
    retrains = _lines(wd / 'retrain.jsonl')
    assert retrains == 3
    shard = wd / 'proxies' / 'scratch4_seed0' / 'ledger' / 'rank0.jsonl'
    trained = _lines(shard)
    proc = _run('proxy_fidelity.py', ['--quick', '--work-dir', str(wd), '--out', str(out)],
                tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _lines(wd / 'retrain.jsonl') == retrains and _lines(shard) == trained
    assert json.loads((tmp_path / 'pf.json').read_text())['test'] == res['test']
    # the same rewards against another retraining: only the 3 retrains train
    proc = _run('proxy_fidelity.py', ['--quick', '--work-dir', str(wd), '--out',
                                      str(tmp_path / 'pf6.md'), '--rewards-from',
                                      str(tmp_path / 'pf.json'), '--retrain-iters', '6'], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _lines(wd / 'retrain.jsonl') == retrains + 3 and _lines(shard) == trained
    six = json.loads((tmp_path / 'pf6.json').read_text())
    assert six['retrain_iters'] == 6 and six['settings'] == res['settings']
    assert six['rewards'] == res['rewards'] and six['panel'] == res['panel']
    proc = _run('proxy_fidelity.py', ['--quick', '--work-dir', str(wd), '--rewards-from',
                                      str(tmp_path / 'pf.json'), '--panel', '3'], tmp_path)
    assert proc.returncode == 2 and '--rewards-from takes the panel' in proc.stderr


@pytest.mark.benchmark
@pytest.mark.slow
def test_search_efficiency_quick_and_rerun(tmp_path):
    wd, out = tmp_path / 'wd', tmp_path / 'se.md'
    args = ['--quick', '--work-dir', str(wd), '--out', str(out)]
    proc = _run('search_efficiency.py', args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / 'se.json').read_text())
    rows = res['summary']['rows']
    assert [(r['controller'], r['round']) for r in rows] == [
        ('ppo2', 1), ('ppo2', 2), ('random', 1), ('random', 2)]
    assert [r['iters'] for r in rows] == [4, 8, 4, 8]  # 2 proxies x 2 iterations a round
    assert set(res['summary']['baselines']) == {'ce', 'lovasz', 'voc_miou'}
    text = out.read_text()
    assert 'CE: ' in text and 'Lovász-softmax: ' in text and "authors' voc_miou θ: " in text
    assert all(set(r['above']) == {'ce', 'lovasz', 'voc_miou'} for r in rows)
    assert [r[:3] for r in _table(text, '| controller |')] == [
        ['PPO2', '1', '4'], ['PPO2', '2', '8'], ['random search', '1', '4'],
        ['random search', '2', '8']]
    assert (tmp_path / 'se.png').stat().st_size > 1000
    for name in ('ppo2', 'random'):
        search = wd / 'searches' / f'{name}_scratch2_seed0'
        assert (search / 'best_r1.json').exists() and (search / 'best_r2.json').exists()
    store = wd / 'retrain.jsonl'
    retrains = _lines(store)
    proc = _run('search_efficiency.py', args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _lines(store) == retrains
    assert json.loads((tmp_path / 'se.json').read_text())['summary'] == res['summary']
    # the same searches against another retraining: no proxy trains, only the retrains
    ledgers = sorted((wd / 'searches').rglob('*.jsonl'))
    before = [_lines(f) for f in ledgers]
    proc = _run('search_efficiency.py', ['--quick', '--work-dir', str(wd), '--out',
                                         str(tmp_path / 'se3.md'), '--searches-from',
                                         str(tmp_path / 'se.json'), '--retrain-iters', '3',
                                         '--checkpoints', '2'],
                tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted((wd / 'searches').rglob('*.jsonl')) == ledgers
    assert [_lines(f) for f in ledgers] == before
    three = json.loads((tmp_path / 'se3.json').read_text())
    assert three['retrain_iters'] == 3 and three['searches'] == res['searches']
    assert [(r['controller'], r['round']) for r in three['summary']['rows']] == [
        ('ppo2', 2), ('random', 2)]
    assert three['searches_from'][0]['command'] == res['command']
    thetas = {tuple(r['theta']) for c in res['searches'].values()
              for runs in c['seeds'].values() for r in runs if r['round'] == 2}
    assert _lines(store) == retrains + len(three['retrain_seeds']) * (3 + len(thetas))
    assert 'no proxy trained this run' in (tmp_path / 'se3.md').read_text()
    proc = _run('search_efficiency.py', ['--quick', '--work-dir', str(wd), '--searches-from',
                                         str(tmp_path / 'se.json'), '--samples', '3'], tmp_path)
    assert proc.returncode == 2 and 'drop --samples' in proc.stderr


def test_result_store_skips_finished_jobs_and_survives_a_cut_line(tmp_path):
    from _common import Job
    path = str(tmp_path / 'r.jsonl')
    job = Job(config='x.py', work_dir='/a', seed=0, iters=4, batch_size=2, data_root='d',
              name='j')
    store = ResultStore(path)
    store.put(job, dict(test=dict(mIoU=1.0)))
    with open(path, 'a') as f:
        f.write('{"key": "cut')  # a kill in the middle of a line
    again = ResultStore(path)
    assert len(again) == 1
    # where it ran and its tag do not matter; what it computes does
    assert again.get(Job(**dict(job.__dict__, work_dir='/b', tag=dict(x=1)))) == dict(
        test=dict(mIoU=1.0))
    assert again.get(Job(**dict(job.__dict__, iters=5))) is None


@pytest.mark.parametrize('script,bad', [
    (proxy_fidelity, ['--settings', 'scratch']),
    (proxy_fidelity, ['--settings', 'warm200']),
    (proxy_fidelity, ['--settings', 'scratch300@0']),
    (proxy_fidelity, ['--settings', 'scratch300@fast']),
    (proxy_fidelity, ['--retrain-seeds', '0']),
    (search_efficiency, ['--setting', 'warm0+5']),
    (search_efficiency, ['--budget', '100', '--setting', 'scratch400']),
    (search_efficiency, ['--rounds', '2', '--checkpoints', '3']),
])
def test_bad_arguments_are_rejected(script, bad):
    with pytest.raises(SystemExit):
        script.parse_args(bad)


def test_proxy_setting_names():
    assert proxy_fidelity.parse_setting('scratch300') == dict(name='scratch300', iters=300,
                                                              warm=None, lr=None)
    assert proxy_fidelity.parse_setting('warm200+100@0.4') == dict(
        name='warm200+100@0.4', iters=300, warm=200, lr=0.4)
    cfg = proxy_fidelity.search_cfg('/w', '/d', proxy_fidelity.parse_setting('warm200+100@0.4'),
                                    0, 4, 1, 8, 0, dict(type='RandomSearchController'))
    assert cfg.search.proxy.lr == 0.4 and cfg.search.proxy.max_iters == 300
    assert cfg.search.proxy.warm_start == dict(iters=200, loss='CE')
    assert proxy_fidelity.setting_cost(proxy_fidelity.parse_setting('warm200+100@0.4'), 8) == 1000


def test_a_controller_that_cannot_be_built_is_reported_not_run():
    with pytest.raises(search_efficiency._Unavailable, match='samples_per_round must be'):
        search_efficiency._check_controller('cmaes', 2)  # CMA-ES needs M >= 4
    search_efficiency._check_controller('random', 2)


def test_searches_from_merges_files_that_agree_and_names_the_one_that_does_not(tmp_path,
                                                                              capsys):
    """The committed 800-iteration runs merge; a file of another setting, or a
    controller in two files, is refused naming the file."""
    files = [osp.join(REPO, 'benchmarks', 'results', f'search_efficiency{x}.json')
             for x in ('', '_optuna')]
    merged = search_efficiency.merge_searches(files)
    assert sorted(merged['searches']) == ['cmaes', 'ppo2', 'random', 'tpe']
    assert merged['rounds'] == 7 and merged['checkpoints'] == [3, 7]
    assert all(sorted(r['seeds']) == [0, 1] for r in merged['searches'].values())
    other = json.loads(open(files[1]).read())
    other['samples'] = 4
    bad = tmp_path / 'other.json'
    bad.write_text(json.dumps(other))
    with pytest.raises(ValueError, match=r"other\.json' has samples=4, an earlier file 8"):
        search_efficiency.merge_searches([files[0], str(bad)])
    with pytest.raises(ValueError, match="controller 'ppo2' is in more than one file"):
        search_efficiency.merge_searches([files[0], files[0]])
    with pytest.raises(SystemExit):
        search_efficiency.parse_args(['--searches-from', str(tmp_path / 'missing.json')])
    cut = json.loads(open(files[0]).read())
    cut['searches']['random']['seeds']['1'] = cut['searches']['random']['seeds']['1'][:5]
    short = tmp_path / 'cut.json'
    short.write_text(json.dumps(cut))
    with pytest.raises(SystemExit):
        search_efficiency.parse_args(['--searches-from', str(short), '--checkpoints', '7'])
    assert 'no output for random seed 1 round 7' in capsys.readouterr().err
    args = search_efficiency.parse_args(['--searches-from', str(short), '--checkpoints', '3'])
    assert args.controllers == ['ppo2', 'random'] and args.rounds == 7
