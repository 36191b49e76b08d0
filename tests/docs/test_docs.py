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


def _readme_tables(text):
    """(prose before the table, table rows) for each table of ``text``."""
    blocks, prose, table = [], [], []
    for line in text.splitlines() + ['']:
        if line.startswith('|'):
            table.append(line)
            continue
        if table:
            blocks.append(('\n'.join(prose), table))
            prose, table = [], []
        prose.append(line)
    return blocks


def _token(number):
    return re.compile(r'(?<![\w.])' + re.escape(number) + r'(?![\w.])')


def readme_table_problems(text):
    """What is wrong with the numbers of each table of README ``text``: each
    must be a whole number of a results table (``.md``) that the text before
    that table links (not a substring of any file); linked plots are not read."""
    problems = []
    for prose, rows in _readme_tables(text):
        numbers = {n for row in rows for n in re.findall(r'(?<![\w.])\d+\.\d+(?![\w.])', row)}
        if not numbers:
            continue
        sources = [t for t in re.findall(r'\]\(((?!https?:)[^)#]+)', prose)
                   if t.startswith('benchmarks/results/') and t.endswith('.md')]
        if not sources:
            problems.append(f'a table with numbers links no results file: {rows[0]}')
            continue
        text_ = ''.join(open(osp.join(REPO, t), encoding='utf-8').read() for t in sources)
        missing = sorted(n for n in numbers if not _token(n).search(text_))
        if missing:
            problems.append(f'numbers {missing} of the table {rows[0]!r} are not in {sources}')
    return problems


def test_every_readme_table_number_comes_from_the_results_file_it_links():
    readme = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    assert any(re.search(r'\d+\.\d+', ''.join(rows)) for _, rows in _readme_tables(readme)), \
        'the README has no results table'
    assert readme_table_problems(readme) == []


def test_readme_number_check_rejects_a_number_from_another_file():
    # 68.27 is CE's synthetic result, not a number of the CamVid table it links
    text = '[t](benchmarks/results/camvid_plateau.md)\n\n| a | b |\n|---|---|\n| x | 68.27 |\n'
    [problem] = readme_table_problems(text)
    assert "['68.27']" in problem
    assert readme_table_problems('no link\n\n| a |\n|---|\n| 1.5 |\n')
    assert _token('8.2').search('a 8.27 b') is None and _token('8.27').search('(8.27)')


def test_readme_is_short_and_its_links_resolve():
    readme = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    assert len(readme.encode('utf-8')) <= 12 * 1024
    for target in re.findall(r'\]\(((?!https?:)[^)#]+)', readme):
        assert osp.exists(osp.join(REPO, target)), f'README links to a missing file: {target}'
