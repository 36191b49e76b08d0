"""No import circle inside ``mmseg_autoloss``.

Walks every module's module-level imports (function bodies are left out:
they run later, which is how circles were dodged), resolves relative
imports, and asserts the graph of intra-package imports has no cycle. An
import of a name from a package counts as an edge to that package's
``__init__``; ``from pkg import submodule`` as an edge to the submodule.
"""
import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set

from conftest import REPO

PACKAGE = 'mmseg_autoloss'
ROOT = Path(REPO) / PACKAGE


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def _modules() -> Dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob('*.py')}


def _top_level_imports(tree: ast.AST) -> Iterator[ast.stmt]:
    """Import statements executed when the module is imported: at module
    level, in module-level if/try/with blocks and class bodies, not in
    functions."""
    todo: List[ast.AST] = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ''
    base = module.split('.')
    # a package's own name is its first level; a module's is its parent
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return '.'.join(base + ([node.module] if node.module else []))


def _edges(modules: Dict[str, Path]) -> Dict[str, Set[str]]:
    graph: Dict[str, Set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == '__init__.py'
        for node in _top_level_imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                target = _resolve(name, is_package, node)
                targets = [f'{target}.{a.name}' if f'{target}.{a.name}' in modules else target
                           for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    state: Dict[str, int] = {}  # 1 = on the DFS stack, 2 = done
    stack: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_graph_sees_the_package():
    graph = _edges(_modules())
    assert 'mmseg_autoloss.search.controllers.ppo2' in graph
    # resolution of relative imports, package and submodule targets
    assert 'mmseg_autoloss.search.controllers.base' in \
        graph['mmseg_autoloss.search.controllers.ppo2']
    assert 'mmseg_autoloss.search.controllers.ppo2' in \
        graph['mmseg_autoloss.search.controllers']
    assert 'mmseg_autoloss.boundary' in graph['mmseg_autoloss.surrogates']


def test_finder_reports_a_cycle():
    assert _find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert _find_cycle({'a': {'b'}, 'b': set()}) is None


def test_no_import_cycle_in_the_package():
    cycle = _find_cycle(_edges(_modules()))
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)
