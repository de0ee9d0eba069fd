"""Proof that the golden tests catch what memfix exists to catch.

Each case copies the package, goldens and snapshots to a temporary place,
applies one change, and runs against the copy, on one real server, each layer:

- ``goldens``: the golden regression test (``tests/test_goldens.py``, each golden
  restored and compared with its snapshot), over the sets of memfix's own format:
  ``memfix`` (written by memfix) and ``foreign`` (written by other writers);
- ``writeside``: the plugin's write-side test in the same file (each set's current
  version replayed: memfix's writer over the previous golden, the foreign writers);
- ``foreign``: memfix's writer round-tripping the foreign shapes (the readers on
  them are the ``foreign`` set's goldens);
- ``verify``: ``memfix verify`` of both sets (load, meaning against the same
  snapshots, write side).

Known-breaking changes must fail exactly the goldens whose data they break and
the layers named for them; a harmless refactor must fail nothing anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from memfix import schemas
from memfix.goldens import find_goldens
from memfix.servers import default_spec
from memfix.version import Version
from tests.test_record_verify import REPO
from tests.test_writeside import USER_HEAD

pytestmark = pytest.mark.slow

#: Every committed golden: each holds the records of every earlier release too.
ALL = frozenset(str(g.version) for g in find_goldens(REPO / "golden"))
#: The golden of the foreign shapes (set ``foreign``), as its test ids name it.
FOREIGN = frozenset(
    f"foreign-{g.version}" for g in find_goldens(REPO / "golden" / "foreign", "foreign")
)
#: The sets the mutations (all of memfix's own store) can break.
SETS = ("memfix", "foreign")


def since(version: str) -> frozenset[str]:
    """The goldens that hold records of ``version`` (it and every later one)."""
    return frozenset(v for v in ALL if Version.parse(v) >= version)


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    old: str
    new: str
    caught_in: frozenset[str]  # goldens that must fail: "1.4", "foreign-1.0" (empty: none may)
    # The write-side check and the foreign-shape round trip read with the current code
    # too, so a reader break fails them as well where their data holds what it breaks.
    writeside: bool = False  # the write-side check must fail (else it must pass)
    foreign: bool = False  # memfix's writer round-tripping the foreign shapes must fail


#: Where encode_message reads a plain Message's fields (its hot path).
_READ_FIELDS = "        fields = _fields_of(message)\n"


def _content_written_as(expression: str) -> str:
    """The hot path's field read, with the content the writer stores replaced."""
    return f"        fields = _fields_of(msgspec.structs.replace(message, content={expression}))\n"


MUTATIONS = [
    Mutation(
        "drop-the-1.0-decoder",
        "memfix/schemas/__init__.py",
        "    for (major, minor), name in sorted(found):\n",
        "    for (major, minor), name in sorted(found)[1:]:\n",
        ALL | FOREIGN,  # every golden holds 1.0 records
        writeside=True,
    ),
    Mutation(
        "break-the-1.1-decoder",
        "memfix/schemas/v1_1.py",
        "    timestamp: float\n",
        "    timestamp: int\n",
        since("1.1") | FOREIGN,
        writeside=True,
    ),
    Mutation(
        "rename-a-field-on-the-wire",
        "memfix/schemas/v1_3.py",
        "    content: str\n",
        '    content: str = msgspec.field(name="text")\n',
        since("1.3"),
        writeside=True,
    ),
    Mutation(
        "change-the-timestamp-unit",  # the records that take the chain pass 1.6's upcast
        "memfix/schemas/v1_6.py",
        "        timestamp=old.ts_ms / 1000,\n",
        "        timestamp=old.ts_ms,\n",
        # 1.1-1.3 records, and the foreign set's indented 1.0 JSON; memfix's own 1.6
        # records keep their float (the round trip holds), and compact 1.0, 1.4 and 1.5
        # records are read in one step without it (their data still reads right).
        since("1.1") | FOREIGN,
    ),
    Mutation(
        "change-the-key-prefix",
        "memfix/store/keys.py",
        'prefix: str = "session"',
        'prefix: str = "chat"',
        ALL | FOREIGN,
        writeside=True,
    ),
    Mutation(
        "reverse-the-list-order",
        "memfix/store/redis_store.py",
        "decode_records(key, raws, negative_index=start < 0, into=history)",
        "decode_records(key, raws[::-1], negative_index=start < 0, into=history)",
        ALL | FOREIGN,
        foreign=True,
    ),
    Mutation(
        "make-an-optional-field-required",
        "memfix/schemas/v1_1.py",
        "    metadata: dict[str, Any] = {}\n",
        "    metadata: dict[str, Any]\n",
        # 1.1 records without metadata, and the 1.0 -> 1.1 upcast of the 1.0 records
        # that take the chain (the foreign set's indented JSON; compact ones do not).
        since("1.1") | FOREIGN,
        writeside=True,
    ),
    Mutation(
        "change-an-enum-value",
        "memfix/schemas/v1_4.py",
        "    assistant = 2\n",
        "    assistant = 5\n",
        since("1.4"),
        writeside=True,
    ),
    Mutation(
        # msgspec reads array_like records by position: a field inserted mid-struct
        # shifts every later value (`memfix check` names it: array-like-insert).
        "insert-a-field-mid-array-like-record",
        "memfix/schemas/v1_4.py",
        "    metadata: dict[str, Any] = {}\n    name: str | None = None\n",
        "    metadata: dict[str, Any] = {}\n    summary: str | None = None\n"
        "    name: str | None = None\n",
        since("1.4"),
        writeside=True,
    ),
    Mutation(
        "harmless-refactor",
        "memfix/schemas/__init__.py",
        "_chain",
        "_release_order",
        frozenset(),
    ),
    Mutation(
        "harmless-writer-refactor",
        "memfix/schemas/__init__.py",
        "_from_message",
        "_record_of",
        frozenset(),
    ),
    # -- what the goldens alone cannot see (issue 13) --------------------------------
    Mutation(
        "writer-pickles-messages",  # the seed incident: readers unchanged
        "memfix/store/redis_store.py",  # the store's encoder, read-back check and all
        "        encode = schemas.message_encoder(write_version)\n",
        '        encode = lambda m: __import__("pickle").dumps('
        '__import__("msgspec").to_builtins(m), protocol=4)\n',
        frozenset(),
        writeside=True,
        foreign=True,
    ),
    Mutation(
        "writer-normalises-nfc",
        "memfix/schemas/__init__.py",
        _READ_FIELDS,
        _content_written_as('__import__("unicodedata").normalize("NFC", message.content)'),
        frozenset(),
        writeside=True,
        foreign=True,
    ),
    Mutation(
        "writer-strips-whitespace",  # the memfix scenario has no edge whitespace to lose
        "memfix/schemas/__init__.py",
        _READ_FIELDS,
        _content_written_as("message.content.strip()"),
        frozenset(),
        foreign=True,
    ),
    Mutation(
        "writer-truncates-at-64k",
        "memfix/schemas/__init__.py",
        _READ_FIELDS,
        _content_written_as("message.content[:65535]"),
        frozenset(),
        writeside=True,
        foreign=True,
    ),
    Mutation(
        "key-renamed-on-write",  # a "cleaner" key layout for new writes, readers unchanged
        "memfix/store/_lua.py",
        "KEYS[1]",
        "(KEYS[1] .. ':v2')",
        frozenset(),
        writeside=True,
        foreign=True,
    ),
    Mutation(
        "ttl-dropped-on-write",
        "memfix/store/_lua.py",
        "redis.call('PEXPIRE', KEYS[1], ttl)",
        "local _ = ttl",
        frozenset(),
        writeside=True,
    ),
    Mutation(
        "reader-ignores-a-late-version-tag",
        "memfix/schemas/__init__.py",
        """        if b'"v"' in head:""",
        """        if head.startswith(b'{"v"'):""",
        FOREIGN,  # only the foreign set holds a record whose tag is not first
        writeside=True,  # the foreign set's write side reads back what its writers wrote
    ),
    Mutation(
        "reader-splits-session-keys-on-colons",
        "memfix/store/keys.py",
        "            return key[len(self._head) : len(key) - len(self._tail)]",
        '            return key.split(":")[1]',
        FOREIGN,  # only the foreign set holds a hash-tagged session id with a colon
    ),
    Mutation(
        "reader-drops-metadata",  # decodes fine: today's verify cannot see it
        "memfix/schemas/__init__.py",
        "    return _starmap(Message, map(_current_fields.decode, raws))\n",
        "    return (msgspec.structs.replace(m, metadata={}) for m in "
        "_starmap(Message, map(_current_fields.decode, raws)))\n",
        since(schemas.CURRENT_VERSION),  # lists of current records only
        foreign=True,
    ),
    Mutation(
        "the-1.0-shortcut-reads-every-role-as-user",  # the one-step reader of 1.0 JSON
        "memfix/schemas/__init__.py",
        "        Message(r.role, r.content, ",
        '        Message("user", r.content, ',
        ALL | FOREIGN,  # every golden holds the seed article's records
        # The write side and the foreign round trip write 1.6 records: only the
        # goldens' meaning (snapshots) shows it.
    ),
    Mutation(
        "upcast-drops-metadata",  # every older record with metadata, in every golden
        "memfix/schemas/v1_6.py",
        "        metadata=old.metadata,\n",
        "        metadata={},\n",
        ALL - {"1.0"} | FOREIGN,
    ),
]

LAYER_TESTS = {
    "goldens": ["tests/test_goldens.py::test_golden_loads_unchanged"],
    "writeside": ["tests/test_goldens.py::test_golden_is_written_unchanged"],
    "foreign": ["tests/test_foreign.py::test_memfix_writer_round_trips_every_foreign_shape"],
}
LAYERS = ("goldens", "writeside", "foreign", "verify")


@dataclass(frozen=True)
class Outcome:
    failed_goldens: set[str]
    caught: dict[str, bool]  # layer -> failed
    pytest_output: str
    verify_outputs: dict[str, str]  # set -> what `memfix verify --set` printed

    @property
    def verify_output(self) -> str:
        return "".join(self.verify_outputs.values())

    @property
    def output(self) -> str:
        return self.pytest_output + self.verify_output


FAILED = re.compile(
    r"^FAILED \S+\[((?:[a-z][\w-]*?-)?\d+\.\d+)-(?:rdb|json)-[^\]]+\]", re.MULTILINE
)


def run_mutated(mutation: Mutation, workdir: Path) -> Outcome:
    copy = workdir / mutation.name
    shutil.copytree(REPO / "memfix", copy / "memfix", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "golden", copy / "golden")
    (copy / "tests").mkdir()
    for name in (
        "__init__.py",
        "conftest.py",
        "test_goldens.py",
        "test_record_verify.py",
        "test_foreign.py",
    ):
        shutil.copy(REPO / "tests" / name, copy / "tests" / name)
    shutil.copytree(REPO / "tests" / "__snapshots__", copy / "tests" / "__snapshots__")
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    target = copy / mutation.file
    source = target.read_text()
    assert mutation.old in source, f"{mutation.name}: pattern not found in {mutation.file}"
    target.write_text(source.replace(mutation.old, mutation.new))

    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    which = subprocess.run(
        [sys.executable, "-c", "import memfix; print(memfix.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert which.stdout.strip().startswith(str(copy)), "the copy must shadow the installed package"
    server = default_spec().id
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *sorted({t.split("::")[0] for tests in LAYER_TESTS.values() for t in tests}),
            "-q",
            "-rf",
            "-p",
            "no:cacheprovider",
            "--memfix-server",
            server,
            # the mutations are of memfix's own store: the sets of its format
            *(arg for name in SETS for arg in ("--memfix-set", name)),
        ],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    verifies = [
        subprocess.run(
            [
                *(sys.executable, "-m", "memfix.cli", "verify", "-q"),
                *("--set", name, "--server", server),
            ],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        for name in SETS
    ]
    failed_tests = set(re.findall(r"^FAILED ([\w/.]+::\w+)", proc.stdout, re.MULTILINE))
    caught = {layer: any(t in failed_tests for t in tests) for layer, tests in LAYER_TESTS.items()}
    caught["verify"] = any(v.returncode != 0 for v in verifies)
    return Outcome(
        set(FAILED.findall(proc.stdout)),
        caught,
        proc.stdout + proc.stderr,
        {name: v.stdout + v.stderr for name, v in zip(SETS, verifies, strict=True)},
    )


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    workdir = tmp_path_factory.mktemp("mutations")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda m: run_mutated(m, workdir), MUTATIONS)
        return {m.name: r for m, r in zip(MUTATIONS, results, strict=True)}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_golden_suite_flags_exactly_the_broken_goldens(
    mutation: Mutation, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[mutation.name]
    output = outcome.output
    assert outcome.failed_goldens == set(mutation.caught_in), output[-3000:]
    if mutation.caught_in:
        # The failure explains itself: the golden version is named in a short message
        # or a snapshot diff, not only in a traceback.
        assert (
            "no longer loads with the current code" in output
            or "snapshot" in output
            or re.search(r"^golden \d+\.\d+: \S+", output, re.MULTILINE)
        ), output[-3000:]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_layer_catches_its_class_of_change(
    mutation: Mutation, outcomes: dict[str, Outcome]
) -> None:
    caught = outcomes[mutation.name].caught
    expected = {
        "goldens": bool(mutation.caught_in),
        "writeside": mutation.writeside,
        "foreign": mutation.foreign,
        # load and meaning against the same snapshots as the goldens, plus the write side
        "verify": bool(mutation.caught_in) or mutation.writeside,
    }
    assert {k: caught[k] for k in expected} == expected, outcomes[mutation.name].output[-3000:]
    if not (mutation.caught_in or mutation.writeside or mutation.foreign):
        assert not any(caught.values()), outcomes[mutation.name].output[-3000:]


def test_layer_figures(outcomes: dict[str, Outcome]) -> None:
    """How many breaking changes each layer catches (printed for the issue note)."""
    breaking = [m for m in MUTATIONS if m.caught_in or m.writeside or m.foreign]
    counts = {layer: sum(outcomes[m.name].caught[layer] for m in breaking) for layer in LAYERS}
    combined = sum(any(outcomes[m.name].caught.values()) for m in breaking)
    for m in MUTATIONS:
        row = " ".join(f"{layer}={int(outcomes[m.name].caught[layer])}" for layer in LAYERS)
        print(f"\n{m.name:<40} {row}", end="")
    print(f"\nof {len(breaking)} breaking changes: {counts}, all layers together: {combined}")
    assert combined == len(breaking)
    assert counts["goldens"] < len(breaking)  # what the goldens alone miss is why the layers exist


def test_a_writer_that_pickles_fails_goldens_and_verify_naming_golden_key_and_change(
    outcomes: dict[str, Outcome],
) -> None:
    """Issue 13's done-when: the seed incident (the writer pickles, readers unchanged)
    fails `pytest tests/test_goldens.py` and `memfix verify`, each saying which golden,
    which key and what changed."""
    outcome = outcomes["writer-pickles-messages"]
    v = schemas.CURRENT_VERSION
    vre = re.escape(v)
    # The shared timeline gets 5 turns per release: the current one's start after the others'.
    key = f"key 'session:timeline:messages' index {5 * (len(schemas.RELEASED) - 1)}"
    change = f"record now starts b'\\x80\\x04' (pickle?) where the golden has {USER_HEAD!r}"
    pytest_out, verify_out = outcome.pytest_output, outcome.verify_outputs["memfix"]
    assert re.search(
        rf"^FAILED tests/test_goldens.py::test_golden_is_written_unchanged\[{vre}-write-",
        pytest_out,
        re.MULTILINE,
    ), pytest_out[-3000:]
    assert f"write side: golden {v} (scenario run on " in pytest_out, pytest_out[-3000:]
    assert f"{key}: {change}" in pytest_out, pytest_out[-3000:]
    assert re.search(
        rf"^{vre} +\S+ +write +FAIL .*the current writer no longer writes golden {vre}",
        verify_out,
        re.MULTILINE,
    ), verify_out[-3000:]
    assert f"{key}: {change}" in verify_out, verify_out[-3000:]
    assert verify_out.rstrip().endswith(f"{v}/write@" + default_spec().id), verify_out[-500:]
