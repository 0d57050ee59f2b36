"""MANIFEST.sha256: the hash of every file of a pack, plus the previous pack's manifest (the chain).

The format is ``sha256sum``'s, so ``cd reports/out/<run-id> && sha256sum -c MANIFEST.sha256`` checks a
pack with no gameday installed. The chain link is an ordinary line naming the previous pack's
manifest by relative path, ``<sha256>  ../<previous-run-id>/MANIFEST.sha256``; the first pack of a
chain has none.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from base import files

NAME = "MANIFEST.sha256"
ENVELOPE = "MANIFEST.dsse.json"  # the signature over every file, manifest included (reports.signing)
_LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")
_LINK = re.compile(r"^\.\./([^/]+)/" + re.escape(NAME) + "$")


@dataclass(frozen=True)
class Manifest:
    files: dict[str, str]  # relative path inside the pack -> sha256
    previous_run_id: str | None
    previous_sha256: str | None
    problems: tuple[str, ...]  # malformed lines


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pack_files(directory: Path) -> list[str]:
    """Every file in the pack except the manifest and its signature, as sorted relative paths."""
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")
                  if p.is_file() and p.relative_to(directory).as_posix() not in (NAME, ENVELOPE))


def write(directory: Path, previous: Path | None) -> str:
    """Write the manifest of ``directory`` (chained to ``previous``, a pack directory); return its sha256."""
    lines = [f"{sha256(directory / name)}  {name}" for name in pack_files(directory)]
    if previous is not None:
        lines.append(f"{sha256(previous / NAME)}  ../{previous.name}/{NAME}")
    target = directory / NAME
    files.write_text(target, "\n".join(lines) + "\n")  # readers never see half a manifest
    return sha256(target)


def read(path: Path) -> Manifest:
    files: dict[str, str] = {}
    previous_run_id = previous_sha256 = None
    problems = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        match = _LINE.match(line)
        if not match:
            problems.append(f"{path}:{number}: malformed line {line[:60]!r}; expected '<sha256>  <file>'")
            continue
        digest, name = match.groups()
        link = _LINK.match(name)
        if link:
            if previous_run_id is not None:
                problems.append(f"{path}:{number}: a second chain link ({name}); a pack has one previous pack")
            previous_run_id, previous_sha256 = link.group(1), digest
        elif name.startswith("/") or ".." in name.split("/"):
            problems.append(f"{path}:{number}: {name!r} points outside the pack")
        else:
            files[name] = digest
    return Manifest(files, previous_run_id, previous_sha256, tuple(problems))
