"""Built-in library formats (langchain, llama-index, pydantic-ai) and their golden sets.

Every golden under ``golden/<set>/<version>/`` (written by that release line of
the library, some in isolated environments with older releases) is restored
into a fresh real server, from its RDB file and from its JSON dump, and read
through the library installed *now*; the result must equal the committed
snapshot ``__snapshots__/test_library_formats/<set>-<version>.json``.
After an intended change, run this file with ``--snapshot-update`` and review
the diff.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from memfix.errors import GoldenError, MemfixError
from memfix.formats._library import LIBRARY_FORMATS, library_format
from memfix.formats.llama_index import LlamaIndexFormat
from memfix.goldens import Golden, dump_keyspace, encode_dump
from memfix.goldens.isolated import EnvError, ensure_env
from memfix.goldens.library import library_goldens, library_view, record_with
from memfix.goldens.restore import RestoreMode
from memfix.servers import Server, default_spec
from memfix.snapshot import GoldenSnapshotExtension

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"
MODULES = {
    "langchain": "langchain_community",
    "llama-index": "llama_index.storage.chat_store.redis",
    "pydantic-ai": "pydantic_ai",
}


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(MODULES[name]) is not None
    except ModuleNotFoundError:
        return False


def _needs(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not _installed(name), reason=f"{MODULES[name]} not installed: pip install 'memfix[formats]'"
    )


FORMATS = [pytest.param(n, marks=_needs(n), id=n) for n in LIBRARY_FORMATS]
GOLDEN_CASES = [
    pytest.param(name, version, mode, marks=_needs(name), id=f"{name}-{version}-{mode.value}")
    for name in LIBRARY_FORMATS
    for version in sorted(
        (p.name for p in (GOLDEN / name).iterdir() if p.is_dir()),
        key=lambda v: tuple(int(x) for x in v.split(".")),
    )
    for mode in RestoreMode
]


def test_every_builtin_format_has_goldens_of_at_least_three_releases() -> None:
    for name in LIBRARY_FORMATS:
        assert len(library_goldens(GOLDEN / name)) >= 3, name


@pytest.mark.parametrize(("name", "version", "mode"), GOLDEN_CASES)
def test_library_golden_loads_unchanged(
    name: str, version: str, mode: RestoreMode, snapshot: SnapshotAssertion
) -> None:
    golden = Golden.open(GOLDEN / name / version)
    view = library_view(golden, name, default_spec(), mode)
    assert view == snapshot.use_extension(GoldenSnapshotExtension)(name=f"{name}-{version}")


@pytest.mark.parametrize("name", FORMATS)
def test_scenario_is_deterministic_and_keeps_every_kind(name: str) -> None:
    fmt = library_format(name)
    dumps = []
    for _ in range(2):
        with default_spec().start() as srv:
            fmt.write_scenario(srv.client, fmt.current_version)
            dumps.append(encode_dump(dump_keyspace(srv.client)))
            view = json.dumps(fmt.read_sessions(srv.client))
    assert dumps[0] == dumps[1]
    for expected in ("call_weather_1", "get_weather", "Paris", "example.com/cloud.png"):
        assert expected in view, (name, expected)


@pytest.mark.parametrize("name", FORMATS)
def test_undecodable_record_is_one_line_naming_the_key(name: str, server: Server) -> None:
    fmt = library_format(name)
    fmt.write_scenario(server.client, fmt.current_version)
    key = sorted(k.decode() for k in server.client.keys("*"))[-1]
    server.client.lset(key, 0, b'{"not": "a message"')
    with pytest.raises(MemfixError) as err:
        fmt.read_sessions(server.client)
    assert repr(key) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", FORMATS)
def test_rerecording_the_current_release_reproduces_its_golden(name: str, tmp_path: Path) -> None:
    fmt = library_format(name)
    committed = Golden.open(GOLDEN / name / fmt.current_version)
    packages = committed.manifest.packages or {}
    if packages.get(fmt.distribution) != fmt.package_versions().get(fmt.distribution):
        pytest.skip(
            f"{fmt.distribution} installed differs from the one golden {name} was recorded with"
        )
    fresh = record_with(fmt, tmp_path)
    assert fresh.json_path.read_bytes() == committed.json_path.read_bytes()
    assert fresh.manifest.packages == fmt.package_versions()
    with pytest.raises(GoldenError, match="already exists"):
        record_with(fmt, tmp_path)


@_needs("llama-index")
def test_keys_no_format_claims_fail_the_golden() -> None:
    golden = Golden.open(GOLDEN / "llama-index" / "0.8")
    with pytest.raises(MemfixError, match="keys no format claims: llama_chat:"):
        library_view(golden, LlamaIndexFormat(key_prefix="chat:"), default_spec(), RestoreMode.JSON)


def test_a_set_without_goldens_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GoldenError, match="no goldens found"):
        library_goldens(tmp_path / "langchain")


def test_unreachable_index_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMFIX_CACHE", str(tmp_path))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/")
    with pytest.raises(EnvError) as err:
        ensure_env(["pydantic-ai-slim==0.7.2"])
    message = str(err.value)
    assert "http://127.0.0.1:9/" in message and "cannot be reached" in message, message
    assert "\n" not in message
    envs = tmp_path / "envs"
    assert not envs.exists() or not list(envs.iterdir()), "a failed build left files behind"


def test_importing_memfix_formats_imports_no_library() -> None:
    code = (
        "import sys, memfix, memfix.formats.langchain, memfix.formats.llama_index, "
        "memfix.formats.pydantic_ai, memfix.goldens.library; "
        "print([m for m in ('langchain_core', 'llama_index', 'pydantic_ai') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_record_with_unreachable_index_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from memfix.cli import main

    monkeypatch.setenv("MEMFIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/")
    args = ["record", "--format", "langchain", "--with", "langchain-core==0.2.*", "-q"]
    result = CliRunner().invoke(main, [*args, "--goldens", str(tmp_path / "golden")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "cannot be reached" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "golden").exists()


def test_cli_with_needs_a_format() -> None:
    from click.testing import CliRunner

    from memfix.cli import main

    result = CliRunner().invoke(main, ["record", "--with", "langchain-core==0.2.*"])
    assert result.exit_code != 0 and "--with needs --format" in result.output
