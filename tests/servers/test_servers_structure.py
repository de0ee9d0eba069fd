"""memfix.servers' shape: modules import only downward, errors share memfix's root,
importing it does not load the store, and one function tells servers apart."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import memfix.servers
from memfix.errors import MemfixError
from memfix.servers import ServerError, ServerSpec, discover, server_identity

PACKAGE = Path(memfix.servers.__file__).parent


def _runtime_imports(path: Path) -> set[str]:
    """Sibling modules ``path`` imports at run time (``if TYPE_CHECKING:`` blocks excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for child in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
        elif node.level == 1:
            found |= {alias.name for alias in node.names}
        elif node.module and node.module.startswith("memfix.servers."):
            found.add(node.module.split(".")[2])
    return found


def _graph() -> dict[str, set[str]]:
    return {p.stem: _runtime_imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])) is not None:
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])) is not None:
            return cycle
    return None


def test_servers_modules_have_no_import_cycle() -> None:
    graph = _graph()
    assert sum(map(len, graph.values())) > 10, graph  # the scan sees the real imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_check_fails_on_a_cycle() -> None:
    """The check above can fail: the pre-#11 layout (spec <-> local, docker <-> discovery)."""
    old = {"spec": {"local", "docker"}, "local": {"spec"}, "docker": {"discovery", "spec"}}
    assert find_cycle(old) is not None
    assert find_cycle({"docker": {"discovery"}, "discovery": {"docker"}}) == [
        "discovery",
        "docker",
        "discovery",
    ]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_server_errors_are_memfix_errors() -> None:
    assert issubclass(ServerError, MemfixError)
    for name in ("DatabaseNotEmpty", "DumpTooNewError", "ServerNotFound", "ServerStartError"):
        assert issubclass(getattr(memfix.servers, name), MemfixError), name


def test_importing_servers_does_not_load_the_store() -> None:
    code = (
        "import sys, memfix.servers; "
        "print(sorted(m for m in sys.modules if m.startswith(('memfix.store', 'memfix.schemas', "
        "'msgspec'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == "[]", out


@pytest.mark.parametrize("spec", discover(docker=False), ids=lambda s: s.id)
def test_server_identity_names_each_real_server(spec: ServerSpec) -> None:
    with spec.start() as server:
        assert server_identity(server.info()) == (spec.product, spec.version, "standalone")


def test_server_identity_tells_valkey_from_its_redis_compatible_version() -> None:
    """Valkey keeps ``redis_version:7.2.4`` for clients; ``server_name`` is what says Valkey."""
    valkey = {"redis_version": "7.2.4", "server_name": "valkey", "valkey_version": "8.1.8"}
    assert server_identity(valkey) == ("valkey", "8.1.8", "standalone")
    no_valkey_version = {"redis_version": "7.2.4", "server_name": "valkey", "server_mode": "x"}
    assert server_identity(no_valkey_version) == ("valkey", "7.2.4", "x")
    assert server_identity({"redis_version": "7.0.15", "redis_mode": "cluster"}) == (
        "redis",
        "7.0.15",
        "cluster",
    )
