"""The docs are generated from, and quote only, committed results."""
import glob
import os.path as osp
import re
import subprocess
import sys

from conftest import REPO

RESULTS = osp.join(REPO, 'benchmarks', 'results')


def test_benchmarks_page_is_generated_from_results():
    # make_docs --check exits 1 when docs/benchmarks.md differs from its output
    proc = subprocess.run([sys.executable, osp.join(REPO, 'benchmarks', 'make_docs.py'), '--check'],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_every_readme_table_number_is_in_a_results_file():
    results = ''.join(open(p, encoding='utf-8').read()
                      for p in glob.glob(osp.join(RESULTS, '*.md')) + glob.glob(osp.join(RESULTS, '*.json')))
    readme = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    rows = [line for line in readme.splitlines() if line.startswith('|')]
    numbers = {n for row in rows for n in re.findall(r'(?<![\w.])\d+\.\d+(?![\w.])', row)}
    assert numbers, 'the README has no results table'
    missing = sorted(n for n in numbers if n not in results)
    assert not missing, f'README numbers found in no benchmarks/results file: {missing}'


def test_readme_is_short_and_its_links_resolve():
    readme = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    assert len(readme.encode('utf-8')) <= 12 * 1024
    for target in re.findall(r'\]\(((?!https?:)[^)#]+)', readme):
        assert osp.exists(osp.join(REPO, target)), f'README links to a missing file: {target}'
