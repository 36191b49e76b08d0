"""benchmarks/pin_worktree.sh: a worktree at a commit whose results, data,
work dirs and environment are the checkout's."""
import os
import os.path as osp
import subprocess

from conftest import REPO

SCRIPT = osp.join(REPO, 'benchmarks', 'pin_worktree.sh')


def _git(*args):
    return subprocess.run(['git', '-C', REPO, *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_pinned_worktree_links_the_checkouts_outputs(tmp_path):
    wt = tmp_path / 'wt'
    first = _git('rev-list', '--max-parents=0', 'HEAD').splitlines()[0]
    proc = subprocess.run([SCRIPT, str(wt), first], capture_output=True, text=True)
    try:
        assert proc.returncode == 0, proc.stderr
        assert f'commit {first[:7]}' in proc.stdout
        assert subprocess.run(['git', '-C', str(wt), 'rev-parse', 'HEAD'], capture_output=True,
                              text=True).stdout.strip() == first
        for path in ('data', 'work_dirs', 'benchmarks/results'):
            assert osp.islink(wt / path) and os.readlink(wt / path) == osp.join(REPO, path)
        # a second worktree over the first is refused, naming the folder
        again = subprocess.run([SCRIPT, str(wt)], capture_output=True, text=True)
        assert again.returncode == 1 and f'{wt} exists' in again.stderr
        bad = subprocess.run([SCRIPT, str(tmp_path / 'x'), 'no-such-commit'],
                             capture_output=True, text=True)
        assert bad.returncode == 1 and not (tmp_path / 'x').exists()
        assert "COMMIT 'no-such-commit' is not a commit" in bad.stderr
    finally:
        subprocess.run(['git', '-C', REPO, 'worktree', 'remove', '--force', str(wt)],
                       capture_output=True)
