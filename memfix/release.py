"""Release tooling: create the next schema version, and tell released from unreleased.

A release of a new optional field is one new module (plus the field in
``memfix/model.py`` when the model gains it), two commands and a reviewed
snapshot diff (docs/releasing.md). :func:`new_schema_version` writes that
module from the current one; the registry discovers it, so nothing else is
edited. :func:`committed_in_git` is what lets ``memfix record
--replace-unreleased`` redo a golden that no one has received yet, and
nothing else.
"""

from __future__ import annotations

import inspect
import subprocess
from pathlib import Path
from types import ModuleType

import msgspec

from memfix import schemas
from memfix.errors import ReleaseError, VersionError
from memfix.version import Version

__all__ = ["committed_in_git", "module_source", "new_schema_version"]


def new_schema_version(version: str, *, package_dir: Path | None = None) -> Path:
    """Write ``memfix/schemas/v<X>_<Y>.py`` for ``version`` from the current module.

    The new ``Record`` subclasses the current one (same fields, same order, same
    options; under the new tag when the current one is tagged; untagged, the
    release must add a field), re-exports its nested types, and upcasts field by
    field; the registry picks it up as the current version. Refuses a malformed
    version, one not newer than the current, or an existing file.
    """
    try:
        wanted = Version.parse(version)
    except VersionError as exc:
        raise ReleaseError(str(exc)) from None
    current = schemas.CURRENT_VERSION
    if wanted == current:
        raise ReleaseError(f"{version} is already the current schema version")
    if wanted <= current:
        raise ReleaseError(f"{version} is not newer than the current schema version {current}")
    directory = package_dir or Path(schemas.__file__).parent
    major, minor = wanted.key
    target = directory / f"v{major}_{minor}.py"
    source = module_source(version, schemas.RELEASED[current])
    try:
        with target.open("x", encoding="utf-8") as out:
            out.write(source)
    except FileExistsError:
        raise ReleaseError(f"{target} already exists") from None
    return target


def module_source(version: str, previous: ModuleType) -> str:
    """The source of version ``version``'s module, derived from ``previous``."""
    record: type[msgspec.Struct] = previous.Record
    info = msgspec.inspect.type_info(record)
    if not isinstance(info, msgspec.inspect.StructType) or not (
        isinstance(info.tag, str) or (info.tag is None and info.array_like)
    ):
        raise ReleaseError(
            f"{previous.__name__}.Record is neither tagged nor an untagged array: "
            f"write {version}'s module by hand"
        )
    tagged = info.tag is not None
    decoder = getattr(previous, "_decoder", None)
    codec = "msgpack" if isinstance(decoder, msgspec.msgpack.Decoder) else "json"
    prev_mod = previous.__name__.rsplit(".", 1)[1]
    own = {"VERSION", "Record", "decode", "encode", "upcast"}
    nested = sorted(  # the nested types (and aliases such as 1.6's Role) it exports
        {n for n in getattr(previous, "__all__", ()) if n not in own}
        | {
            name
            for name, obj in vars(previous).items()
            if inspect.isclass(obj)
            and not name.startswith("_")
            and name != "Record"
            and obj.__module__.startswith(f"{schemas.__name__}.v")
        }
    )
    exports = ", ".join(f'"{n}"' for n in ["VERSION", "Record", *nested])
    imports = f"from memfix.schemas.{prev_mod} import {', '.join(nested)}\n" if nested else ""
    fields = "".join(f"        {f}=old.{f},\n" for f in record.__struct_fields__)
    p = previous.VERSION
    if tagged:
        made = f"""{p}'s Record under the tag
"{version}". Add fields at the end of ``Record``, each with a default (records
of {p} and earlier lack them), then run"""
        base, body = f'{prev_mod}.Record, tag="{version}"', f"{p}'s fields, in {p}'s order"
    else:  # an untagged array: its length tells the versions apart
        made = f"""{p}'s Record. Add at least one
field at the end of ``Record``, each with a default (records of {p} and earlier
lack them): an untagged record's length is its version, so the registry refuses
a layout of {p}'s length. Add the same fields to ``memfix.Message`` to keep the
one-call read path. Then run"""
        base, body = f"{prev_mod}.Record", f"{p}'s fields, in {p}'s order"
    return f'''"""Message wire schema {version}: <say in one line what this release changes>.

Created by ``memfix schema new {version}`` from {made}
``memfix check`` and ``memfix record --version {version}``. Once
golden/{version}/ is committed this module is RELEASED, NEVER EDIT.
"""

from __future__ import annotations

import msgspec

from memfix.schemas import {prev_mod}
{imports}
__all__ = [{exports}, "decode", "encode", "upcast"]

VERSION = "{version}"


class Record({base}):
    """{body}; new ones go below, with defaults."""


_decoder = msgspec.{codec}.Decoder(Record)
_encoder = msgspec.{codec}.Encoder()


def decode(raw: bytes) -> Record:
    return _decoder.decode(raw)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def upcast(old: {prev_mod}.Record) -> Record:
    return Record(
{fields}    )
'''


def committed_in_git(path: Path) -> bool:
    """Whether any commit of the work tree holding ``path`` contains it.

    A golden that was ever committed may have been pulled, tagged or shipped:
    it is released. Outside a git work tree nobody can tell, so that is an error.
    """
    path = path.resolve()
    where = path if path.is_dir() else path.parent

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(where), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    try:
        top = git("rev-parse", "--show-toplevel")
    except FileNotFoundError:
        raise ReleaseError(
            f"cannot tell whether {path} is committed: git is not installed"
        ) from None
    if top.returncode != 0:
        raise ReleaseError(f"cannot tell whether {path} is committed: not in a git work tree")
    head = git("rev-parse", "--verify", "-q", "HEAD")
    if head.returncode != 0:
        return False  # no commit yet
    log = git("log", "-1", "--format=%h", "HEAD", "--", str(path))
    if log.returncode != 0:
        raise ReleaseError(f"git log failed for {path}: {log.stderr.strip()}")
    return bool(log.stdout.strip())
