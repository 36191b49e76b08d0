"""The shape of ``search/``: defaults written once, short functions.

A search default is a dataclass field (:mod:`mmseg_autoloss.search.proxy_settings`,
``SearchSettings``) or a named constant (:mod:`mmseg_autoloss.search.defaults`),
never ``x.get('key', <literal>)``; no function is longer than 60 lines.
"""
import ast
from pathlib import Path

from conftest import REPO

SEARCH = Path(REPO) / 'mmseg_autoloss' / 'search'


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def literal_gets(source: str):
    """(line, text) of every ``.get('...', <literal>)`` call in ``source``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == 'get' and len(node.args) == 2 \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str) \
                and _literal(node.args[1]):
            out.append((node.lineno, ast.unparse(node)))
    return out


def test_the_finder_finds_literal_defaults():
    src = ("a = d.get('x', 1000)\nb = d.get('y', 'INFO')\nc = d.get('z', {})\n"
           "e = d.get('w', -1.5)\nf = d.get('v', None)\n"
           "ok = d.get('x')\nok2 = d.get('x', DEFAULT)\nok3 = d.get('x', cls.x)\n")
    assert [line for line, _ in literal_gets(src)] == [1, 2, 3, 4, 5]


def test_search_reads_no_literal_default():
    found = [f'{path.relative_to(REPO)}:{line}: {text}'
             for path in sorted(SEARCH.rglob('*.py'))
             for line, text in literal_gets(path.read_text())]
    assert not found, 'literal defaults in search/:\n' + '\n'.join(found)


def test_no_function_in_search_is_over_60_lines():
    long = []
    for path in sorted(SEARCH.rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f'{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines})')
    assert not long, 'functions over 60 lines in search/:\n' + '\n'.join(long)
