"""benchmarks/camvid_plateau.py and camvid_losses.py on the CamVid fixture:
the protocol (lr grid on the hold-out, then the other seeds), the resumable
store, a killed run resuming from its checkpoint, and the reports."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO, subprocess_env, write_camvid_download

sys.path.insert(0, osp.join(REPO, 'benchmarks'))

import _common  # noqa: E402
from _camvid import camvid_job  # noqa: E402


def _run(script, args, cwd):
    return subprocess.run([sys.executable, osp.join(REPO, 'benchmarks', script)] + args,
                          cwd=str(cwd), capture_output=True, text=True, timeout=900,
                          env=subprocess_env())


@pytest.fixture(scope='module')
def download(tmp_path_factory):
    return write_camvid_download(str(tmp_path_factory.mktemp('camvid_dl')), size=(240, 180))


def _lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.slow
@pytest.mark.benchmark
def test_plateau_grid_then_seeds_and_a_rerun_trains_nothing(download, tmp_path):
    store, out = tmp_path / 'plateau.jsonl', tmp_path / 'plateau.md'
    args = ['--iters', '2', '4', '--lrs', '0.01', '0.2', '--seeds', '0', '1', '--src', download,
            '--data-root', str(tmp_path / 'data'), '--work-dir', str(tmp_path / 'wd'),
            '--store', str(store), '--out', str(out)]
    proc = _run('camvid_plateau.py', args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [r['result'] for r in _lines(store)]
    # a grid of 2 lrs at seed 0 per length, then seed 1 at each length's chosen lr
    assert sorted((r['tag']['iters'], r['tag']['seed']) for r in runs) == \
        [(2, 0), (2, 0), (2, 1), (4, 0), (4, 0), (4, 1)]
    for n in (2, 4):
        grid = {r['lr']: r['val']['mIoU'] for r in runs if r['tag']['iters'] == n
                and r['seed'] == 0}
        chosen = max(sorted(grid), key=lambda lr: (grid[lr], -lr))
        [second] = [r for r in runs if r['tag']['iters'] == n and r['seed'] == 1]
        assert second['lr'] == chosen
        assert set(second) >= {'val', 'test'}  # hold-out and CamVid val
    text = out.read_text()
    assert 'PARTIAL' not in text and '| 4 |' in text and 'Plateau:' in text
    assert (tmp_path / 'plateau.png').stat().st_size > 0
    proc = _run('camvid_plateau.py', args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(_lines(store)) == 6  # everything came from the store
    # a longer length with --last-start now: the report from the store, nothing trained
    longer = ['--iters', '2', '4', '8'] + args[3:] + ['--last-start', 'now']
    proc = _run('camvid_plateau.py', longer, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(_lines(store)) == 6 and 'not started, left for a rerun' in proc.stdout
    assert 'PARTIAL' in out.read_text()


@pytest.mark.slow
@pytest.mark.benchmark
def test_losses_screen_then_final_runs_with_curves_and_rare_classes(download, tmp_path):
    out = tmp_path / 'losses.md'
    # one lr: the choice itself is the plateau test's; here the flow from
    # the screen to the final runs, their curves and the report
    args = ['--losses', 'ce', 'ce_mfb', '--iters', '4', '--lrs', '0.1', '--seeds', '0',
            '1', '--curve-points', '2', '--src', download, '--data-root', str(tmp_path / 'data'),
            '--work-dir', str(tmp_path / 'wd'), '--store', str(tmp_path / 'losses.jsonl'),
            '--out', str(out)]
    proc = _run('camvid_losses.py', args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / 'losses.json').read_text())['losses']
    for key in ('ce', 'ce_mfb'):
        assert res[key]['lr'] == 0.1 and res[key]['grid']['0.1'] is not None  # JSON keys
        assert [r['seed'] for r in res[key]['runs']] == [0, 1]
        for run in res[key]['runs']:
            assert [it for it, _ in run['curve']] == [2, 4]
            assert run['curve'][-1][1] == run['mIoU']  # the last point is the final eval
            assert 'IoU.bicyclist' in run
    text = out.read_text()
    assert '| CE, median-frequency class weights | ' in text and 'Rare classes' in text
    assert osp.isfile(tmp_path / 'losses.png')


@pytest.mark.slow
def test_a_killed_job_resumes_from_its_checkpoint(download, tmp_path, capsys):
    """A job that finds its checkpoint trains only what is left; with the
    whole schedule checkpointed it only evaluates, to the same numbers, and
    the study's console says so as it starts the job. The work dir may have
    moved since (mmengine's pointer names the old absolute path)."""
    sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))
    from camvid import convert
    root = str(tmp_path / 'data')
    convert(download, root)
    job = camvid_job('deeplabv3plus', 'ce', 4, 0.1, 0, root, str(tmp_path / 'wd'))
    job.checkpoint_interval = 2
    job.batch_size = 2
    first = _common.train_and_evaluate(job)
    assert 'resumed_at' not in first
    assert osp.isfile(osp.join(job.work_dir, 'iter_4.pth'))
    os.rename(tmp_path / 'wd', tmp_path / 'moved')
    job.work_dir = job.work_dir.replace(str(tmp_path / 'wd'), str(tmp_path / 'moved'))
    capsys.readouterr()
    [(_, again)] = _common.run_adaptive([job], 1, lambda j, r: [])
    assert f'start {job.name} (resuming at iteration 4)' in capsys.readouterr().out
    assert again['resumed_at'] == 4
    assert again['val'] == first['val'] and again['test'] == first['test']


def test_a_checkpoint_pointer_to_nowhere_starts_the_run_afresh(tmp_path, capsys):
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'gone' / 'iter_8.pth'))
    assert _common._checkpoint_iter(str(tmp_path)) == 0
    assert 'which is gone: training from the start' in capsys.readouterr().out
    assert not (tmp_path / 'last_checkpoint').exists()
    assert _common._checkpoint_iter(str(tmp_path / 'no_such_dir')) == 0


def test_store_key_of_old_jobs_is_unchanged_by_the_later_fields():
    """Runs stored before cfg_options/classwise/val_interval existed are
    found again; setting one of them makes another run."""
    job = _common.Job(config='c.py', work_dir='/w', seed=0, iters=4, batch_size=2,
                      data_root='/d', name='x')
    # the digest the store used before the later fields were added
    assert _common.ResultStore.key(job) == 'x@' + __import__('hashlib').sha1(json.dumps(
        {k: v for k, v in __import__('dataclasses').asdict(job).items()
         if k not in ('work_dir', 'threads', 'tag', 'checkpoint_interval', 'classwise',
                      'val_interval', 'cfg_options')},
        sort_keys=True, default=str).encode()).hexdigest()[:12]
    keys = {_common.ResultStore.key(job)}
    for change in (dict(classwise=True), dict(val_interval=2), dict(cfg_options={'a': 1})):
        keys.add(_common.ResultStore.key(_common.Job(**dict(vars(job), **change))))
    assert len(keys) == 4


def test_median_frequency_weights_follow_segnet():
    from mmseg_autoloss.datasets.class_weights import median_frequency_weights
    # class 0 in both images (10 + 30 of 100 + 50 px), class 1 only in image 0
    # (90 of 100), class 2 only in image 1 (20 of 50), class 3 nowhere
    counts = np.array([[10, 90, 0, 0], [30, 0, 20, 0]])
    freq = np.array([40 / 150, 90 / 100, 20 / 50])
    median = np.median(freq)
    assert median_frequency_weights(counts) == pytest.approx(list(median / freq) + [0.0])


@pytest.mark.parametrize('key, value', [('val_interval', -1), ('checkpoint_interval', 1.5),
                                        ('val_interval', True)])
def test_job_refuses_bad_intervals(key, value):
    with pytest.raises(ValueError, match=f'Job.{key} must be an integer >= 0, got {value!r}'):
        _common.Job(config='c.py', work_dir='/w', seed=0, iters=4, batch_size=2,
                    data_root='/d', **{key: value})


@pytest.mark.parametrize('study', ['camvid_plateau', 'camvid_losses'])
@pytest.mark.parametrize('argv, says', [
    (['--lrs', '0.1', '0'], r'--lrs \(\[0.1, 0.0\]\) must be > 0'),
    (['--lrs', '0.4', '0.1', '--start-lr', '0.2'],
     r'--start-lr \(0.2\) must be one of --lrs \(\[0.1, 0.4\]\)'),
])
def test_studies_name_a_bad_ladder(study, argv, says, capsys):
    module = __import__(study)
    with pytest.raises(SystemExit):
        module.parse_args(argv)
    assert re.search(says, capsys.readouterr().err)


def test_a_reports_command_leaves_out_when_to_stop():
    argv = ['--iters', '2000', '--last-start', '21:45', '--seeds', '0', '--last-start=now']
    assert _common.command_line('/x/benchmarks/camvid_plateau.py', argv) == \
        'python benchmarks/camvid_plateau.py --iters 2000 --seeds 0'


def test_studies_default_to_the_ladders_middle():
    import camvid_losses
    import camvid_plateau
    for module in (camvid_plateau, camvid_losses):
        args = module.parse_args(['--lrs', '0.4', '0.1', '0.2'])
        assert args.lrs == [0.1, 0.2, 0.4] and args.start_lr == 0.2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=7), st.data())
def test_bracket_lr_ends_at_a_local_best_on_the_ladder(levels, data):
    """Stepping from any start ends at an lr no worse than both its ladder
    neighbours, all of which ran; on a unimodal grid that is the grid's best."""
    from _camvid import around, bracket_lr
    ladder = [0.1 * 2 ** i for i in range(len(levels))]
    score = dict(zip(ladder, levels))
    start = around(ladder, data.draw(st.sampled_from(ladder)))
    ran: dict = {}
    for _ in range(len(ladder) + 1):
        lr, need = bracket_lr(ladder, ran, start)
        if lr is not None:
            break
        assert need and not set(need) & set(ran)
        ran.update({x: score[x] for x in need})
    assert lr is not None and need == []
    i = ladder.index(lr)
    for j in (i - 1, i + 1):
        if 0 <= j < len(ladder):
            assert ladder[j] in ran and (score[ladder[j]], -ladder[j]) < (score[lr], -lr)
    peak = levels.index(max(levels))
    if all(a < b for a, b in zip(levels[:peak], levels[1:peak + 1])) and \
            all(a > b for a, b in zip(levels[peak:], levels[peak + 1:])):
        assert lr == ladder[peak]


def test_bracket_lr_ignores_scores_off_the_ladder():
    from _camvid import bracket_lr
    ladder = [0.1, 0.2, 0.4]
    assert bracket_lr(ladder, {0.05: 99.0, 0.1: 1.0, 0.2: 2.0, 0.4: 1.5}, [0.2]) == (0.2, [])
    assert bracket_lr(ladder, {0.2: 2.0}, [0.1, 0.2]) == (None, [0.1])


def test_run_adaptive_starts_nothing_after_last_start_but_reads_the_store(tmp_path, capsys):
    """Past --last-start a stored run still counts (its follow-ups are asked
    for) while a run not in the store is left for a rerun, untrained."""
    import time
    store = _common.ResultStore(str(tmp_path / 'store.jsonl'))
    stored, other = (camvid_job('deeplabv3plus', 'ce', 4, lr, 0, str(tmp_path / 'no_data'),
                                str(tmp_path / 'wd')) for lr in (0.1, 0.2))
    store.put(stored, dict(name=stored.name, val={'mIoU': 1.0}))
    asked = []

    def then(job, result):
        asked.append(job.name)
        return [other]
    done = _common.run_adaptive([stored], 1, then, store, last_start=time.time() - 1)
    assert [j.name for j, _ in done] == asked == [stored.name]
    assert f'1 run(s) not started, left for a rerun: {other.name}' in capsys.readouterr().out
    assert not osp.exists(other.work_dir)


@pytest.mark.slow
@pytest.mark.benchmark
def test_fidelity_study_ranks_the_panel_against_the_truth(download, tmp_path):
    out = tmp_path / 'fid.md'
    args = ['--settings', 'warm2+2', '--panel', '4', '--proxy-seeds', '0', '1',
            '--retrain-seeds', '0', '1', '--retrain-iters', '4', '--lr', '0.1',
            '--proxy-batch-size', '2', '--workers', '1', '--src', download,
            '--data-root', str(tmp_path / 'data'), '--work-dir', str(tmp_path / 'wd'),
            '--store', str(tmp_path / 'fid.jsonl'), '--out', str(out)]
    proc = _run('camvid_fidelity.py', args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / 'fid.json').read_text())
    assert res['complete'] and len(res['panel']) == 4 and len(res['truth']) == 4
    assert res['panel'][0]['theta'][-1] == 1.0  # CE: the share w = 1
    assert {p['class_reduction'] for p in res['panel']} == {'all', 'present'}
    for seed in ('0', '1'):
        assert all(0 <= v <= 1 for v in res['rewards']['warm2+2'][seed])
    assert all(len(t) == 2 for t in res['truth'])
    assert len(_lines(tmp_path / 'fid_truth.jsonl')) == 8
    [row] = res['rows']
    assert (row['rho'] != row['rho'] or -1 <= row['rho'] <= 1) and row['spread_theta'] >= 0
    assert row['spread_seeds'] >= 0
    text = out.read_text()
    assert 'The truth against itself' in text and '| warm2+2 |' in text


def test_store_keys_do_not_depend_on_where_the_clone_is(tmp_path):
    """A data root inside the repository enters the key relative to it; a run
    stored under the older absolute key, from this clone or a listed one, is
    found again."""
    job = camvid_job('deeplabv3plus', 'ce', 4, 0.1, 0, osp.join(REPO, 'data', 'camvid'), '/w')
    elsewhere = _common.ResultStore.key(job, '/elsewhere')
    assert _common.ResultStore.key(job) not in (elsewhere, _common.ResultStore.key(job, REPO))
    for stored_as, legacy in ((REPO, ()), ('/elsewhere', ('/elsewhere', ))):
        path = tmp_path / f'{len(legacy)}.jsonl'
        path.write_text(json.dumps(dict(key=_common.ResultStore.key(job, stored_as),
                                        result=dict(val={'mIoU': 1.0}))) + '\n')
        assert _common.ResultStore(str(path), legacy).get(job) == dict(val={'mIoU': 1.0})
    assert _common.ResultStore(str(tmp_path / '1.jsonl')).get(job) is None
    outside = camvid_job('deeplabv3plus', 'ce', 4, 0.1, 0, '/data/camvid', '/w')
    assert _common.ResultStore.key(outside) == _common.ResultStore.key(outside, '/elsewhere')


def test_searched_losses_join_the_study_keyed_by_their_parameters(tmp_path):
    """--searched NAME=best_loss.json: one more arm whose loss is the file's
    parameters written out; the same file elsewhere is the same run."""
    import camvid_losses
    from mmseg_autoloss.search.search_space import SearchSpace
    space = SearchSpace('mIoU', 'bezier', 2, mix_ce=0.3)
    best = space.best_loss(space.default(), reward=0.5)
    jobs = []
    for where in ('a', 'b'):
        (tmp_path / where).mkdir()
        path = tmp_path / where / 'best_loss.json'
        path.write_text(json.dumps(best))
        args = camvid_losses.parse_args(['--losses', 'ce', '--searched', f's0={path}',
                                         '--iters', '4', '--work-dir', str(tmp_path / 'wd')])
        assert args.losses == ['ce', 's0'] and args.table['s0'][0] == 'searched (s0)'
        jobs.append(camvid_losses.make_job(args, 's0', 0.2, 0, {}, False))
    loss = jobs[0].decode_loss
    assert loss['type'] == 'AutoSegLoss' and loss['ce_weight'] == 0.3
    assert loss['theta'] == pytest.approx(best['theta']) and 'control_points' not in loss
    assert jobs[0].aux_loss['loss_weight'] == camvid_losses.AUX_WEIGHT
    assert _common.ResultStore.key(jobs[0]) == _common.ResultStore.key(jobs[1])
    for bad in ('ce=' + str(path), 'x', '1a=' + str(path), 's1=/nope.json'):
        with pytest.raises(SystemExit):
            camvid_losses.parse_args(['--searched', bad])


@pytest.mark.slow
@pytest.mark.benchmark
def test_search_study_runs_each_controller_then_retrains_its_output_beside_ce(download,
                                                                              tmp_path):
    out = tmp_path / 'search.md'
    args = ['--controllers', 'ppo2', 'random', '--search-seeds', '0', '--rounds', '1',
            '--samples', '2', '--iters', '4', '--src', download,
            '--data-root', str(tmp_path / 'data'), '--work-dir', str(tmp_path / 'wd'),
            '--out', str(out), '--search-options', 'search.proxy.max_iters=4',
            'search.proxy.warm_start=None', 'search.proxy.batch_size=2',
            'search.workers.num_workers=0', 'search.mix_ce=0.25',
            '--retrain-args', '--lrs', '0.1', '--seeds', '0', '--curve-points', '0',
            '--store', str(tmp_path / 'losses.jsonl'), '--work-dir', str(tmp_path / 'rt')]
    proc = _run('camvid_search.py', args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / 'search.json').read_text())['searches']
    assert set(res) == {'ppo2_s0', 'random_s0'}
    assert all('ce_weight' in best for best in res.values())  # the options reached the search
    assert '| ppo2_s0 |' in out.read_text()
    retrained = json.loads((tmp_path / 'search_retrained.json').read_text())['losses']
    assert set(retrained) == {'ce', 'ppo2_s0', 'random_s0'}
    assert all(len(r['runs']) == 1 for r in retrained.values())
    runs = _lines(tmp_path / 'losses.jsonl')
    proc = _run('camvid_search.py', args, tmp_path)  # searches resume, retrains from the store
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(_lines(tmp_path / 'losses.jsonl')) == len(runs)


def test_plateau_verdict_needs_the_longer_lengths_to_agree():
    from camvid_plateau import plateau

    def row(n, *holdout):
        return dict(iters=n, holdout=list(holdout))
    flat = [row(2000, 35.0, 35.2), row(4000, 35.6, 35.8)]
    assert plateau(flat, {}).startswith('Plateau: 2000 iterations (doubling to 4000 gains +0.60')
    # a longer length's first run already 1 above: not established
    doubt = plateau(flat, {8000: 36.4})
    assert doubt.startswith('Plateau: not reached yet') and '2000 → 4000 iterations gains ' \
        '+0.60, but 8000 iterations reach 36.40' in doubt and '4000 waits for 8000' in doubt
    # ... judged by its seeds' mean once it has them
    assert plateau(flat + [row(8000, 35.9, 36.0)], {8000: 36.4}).startswith('Plateau: 2000 ')
    rising = [row(2000, 33.0, 33.2), row(4000, 35.0, 35.2), row(8000, 35.6, 35.8)]
    assert plateau(rising, {}).startswith('Plateau: 4000 iterations')
    assert plateau(rising[:2], {}) == ('Plateau: not reached yet (hold-out mIoU, means over '
                                       'seeds): 2000 → 4000 iterations gains +2.00; 4000 waits '
                                       'for 8000 iterations with >= 2 seeds. The study goes on '
                                       '(or add a longer --iters).')
    assert 'no length has >= 2 seeds' in plateau([row(2000, 35.0)], {})


def test_ce_runs_of_the_loss_study_are_the_plateau_studys(tmp_path):
    """The loss study's CE is the config's own CE: its selection-split runs
    are the plateau study's jobs, found in that store (read only)."""
    import camvid_losses
    import camvid_plateau
    common = ['--iters', '4000', '--lrs', '0.1', '0.2', '--data-root', str(tmp_path / 'd')]
    plateau_args = camvid_plateau.parse_args(common + ['--store', str(tmp_path / 'p.jsonl')])
    done = camvid_plateau.grid_job(plateau_args, 4000, 0.2, 0)
    _common.ResultStore(plateau_args.store).put(done, dict(val={'mIoU': 36.9}))
    args = camvid_losses.parse_args(common + ['--also-stores', plateau_args.store])
    store = _common.ResultStore(str(tmp_path / 'l.jsonl'), also=args.also_stores)
    ce = camvid_losses.make_job(args, 'ce', 0.2, 0, {}, False)
    assert store.get(ce) == dict(val={'mIoU': 36.9})
    assert store.get(camvid_losses.make_job(args, 'ce', 0.1, 0, {}, False)) is None
    store.put(camvid_losses.make_job(args, 'ce', 0.1, 0, {}, False), dict(val={'mIoU': 1.0}))
    assert len(_lines(plateau_args.store)) == 1 and len(_lines(tmp_path / 'l.jsonl')) == 1


def test_ce_truth_of_the_fidelity_study_is_the_plateau_studys(tmp_path):
    """The fidelity panel's CE (w = 1) is retrained as the config's own CE:
    the plateau study's run at that lr, length and seed, not a second one."""
    import camvid_fidelity
    import camvid_plateau
    root = ['--data-root', str(tmp_path / 'd')]
    plateau_args = camvid_plateau.parse_args(['--iters', '16000', '--store',
                                              str(tmp_path / 'p.jsonl')] + root)
    _common.ResultStore(plateau_args.store).put(
        camvid_plateau.grid_job(plateau_args, 16000, 0.1, 1), dict(val={'mIoU': 40.1}))
    args = camvid_fidelity.parse_args(['--retrain-iters', '16000', '--lr', '0.1', '--store',
                                       str(tmp_path / 'f.jsonl'), '--also-stores',
                                       plateau_args.store] + root)
    store = _common.ResultStore(args.truth_store, also=args.also_stores)
    ce, naive = camvid_fidelity.make_panel(4)[:2]
    assert ce['theta'][-1] == 1.0 and naive['theta'][-1] == 0.0
    assert store.get(camvid_fidelity.truth_job(args, ce, 1)) == dict(val={'mIoU': 40.1})
    assert store.get(camvid_fidelity.truth_job(args, ce, 0)) is None
    assert store.get(camvid_fidelity.truth_job(args, naive, 1)) is None
