"""The evidence pack, ``reports/out/<run-id>/``, and its verification.

A pack holds evidence.json (schema evidence-v1, redacted), report.html, junit.xml and
MANIFEST.sha256, chained to the previous pack: the last run history.jsonl recorded whose pack is in
the same directory, else the pack with the newest manifest. Choosing the previous pack, writing the manifest and appending the history line
happen under one lock, so concurrent runs form one chain, in the order history.jsonl shows.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from gameday.errors import GamedayError
from reports import document as document_
from reports import history, html, junit, manifest
from reports.filelock import exclusive
from reports.redact import Redactor
from reports.run import Run

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
REQUIRED = ("evidence.json", "report.html", "junit.xml")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # gameday.runid's rule
_CHAIN_LIMIT = 10_000


class EvidenceError(GamedayError):
    """The evidence pack could not be written."""


@dataclass(frozen=True)
class Pack:
    directory: Path
    manifest_sha256: str
    previous_run_id: str | None
    document: document_.Document

    @property
    def report(self) -> Path:
        return self.directory / "report.html"


def _write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())


def previous_pack(out_root: Path, exclude: str, history_path: Path | None = None) -> Path | None:
    """The newest other pack: the last one history.jsonl recorded that is still here, else the newest manifest."""
    candidates = {p.name: p for p in out_root.iterdir()
                  if p.is_dir() and p.name != exclude and RUN_ID.match(p.name) and (p / manifest.NAME).is_file()}
    if not candidates:
        return None
    if history_path is not None:
        for record in reversed(history.read(history_path).records):
            if record.get("run_id") in candidates:
                return candidates[record["run_id"]]
    return max(candidates.values(), key=lambda p: ((p / manifest.NAME).stat().st_mtime, p.name))


def write_pack(run: Run, out_root: Path = DEFAULT_OUT, history_path: Path | None = history.DEFAULT_PATH,
               redactor: Redactor | None = None, trend_runs: int = 20,
               scenarios: list[document_.Document] | None = None) -> Pack:
    """Write the pack of ``run`` under ``out_root``, chain it, and append the run to ``history_path``.

    Raises EvidenceSchemaError if the document breaks its schema, EvidenceError if the pack exists
    already or a secret would be written (the partial pack is removed). ``scenarios``: scenario
    documents made elsewhere (pytest-xdist workers) instead of ``run.scenarios``.
    """
    redactor = redactor or Redactor.from_environment()
    document = redactor.document(document_.build(run, scenarios))
    document_.validate(document)
    directory = out_root / run.run_id
    out_root.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir()
    except FileExistsError:
        raise EvidenceError(f"evidence pack {directory} exists already; a run id is used once") from None
    try:
        same_place = [r for r in (history.read(history_path).records if history_path else ())
                      if r["environment"] == run.environment and r["account_id"] == run.account_id]
        past = same_place[-(trend_runs - 1):]
        this = history.record(document, directory, "", None)
        _write(directory / "evidence.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        _write(directory / "report.html", html.render(document, past + [this] if past else None))
        _write(directory / "junit.xml", junit.render(document))
        leaks = redactor.leaks(directory / name for name in REQUIRED)
        if leaks:
            raise EvidenceError(f"refusing to keep evidence pack {directory}: {'; '.join(leaks)}")
        with exclusive(out_root / ".chain.lock"):
            previous = previous_pack(out_root, run.run_id, history_path)
            digest = manifest.write(directory, previous)
            if history_path is not None:
                history.append(history_path, history.record(document, directory, digest,
                                                             previous.name if previous else None))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Pack(directory, digest, previous.name if previous else None, document)


@dataclass(frozen=True)
class VerifyResult:
    path: Path
    problems: tuple[str, ...]  # tampering or damage: any problem fails verification
    notes: tuple[str, ...]  # what was checked and where the chain stops
    packs_checked: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def message(self) -> str:
        head = (f"OK: {self.path} and {len(self.packs_checked) - 1} earlier pack(s) of its chain are intact"
                if self.ok else f"TAMPERED: {self.path}: {len(self.problems)} problem(s)")
        return "\n".join([head, *(f"  - {p}" for p in self.problems), *(f"  · {n}" for n in self.notes)])


def _check_pack(directory: Path, problems: list[str], notes: list[str]) -> manifest.Manifest | None:
    label = directory.name
    manifest_path = directory / manifest.NAME
    if not manifest_path.is_file():
        problems.append(f"{label}: {manifest.NAME} is missing: the pack cannot be checked")
        return None
    listed = manifest.read(manifest_path)
    problems += [f"{label}: {p}" for p in listed.problems]
    for name, expected in sorted(listed.files.items()):
        path = directory / name
        if not path.is_file():
            problems.append(f"{label}: deleted: {name} is listed in the manifest but missing")
        elif (actual := manifest.sha256(path)) != expected:
            problems.append(f"{label}: changed: {name} has sha256 {actual[:16]}…, the manifest says {expected[:16]}…")
    for name in manifest.pack_files(directory):
        if name not in listed.files:
            problems.append(f"{label}: extra file: {name} is not in the manifest")
    for name in REQUIRED:
        if name not in listed.files:
            problems.append(f"{label}: the manifest does not list {name}")
    evidence_path = directory / "evidence.json"
    if evidence_path.is_file() and listed.files.get("evidence.json") == manifest.sha256(evidence_path):
        try:
            evidence = json.loads(evidence_path.read_text(encoding="utf-8"))
            document_.validate(evidence)
            if evidence["run"]["run_id"] != label:
                notes.append(f"{label}: evidence.json is run {evidence['run']['run_id']}; the directory was renamed")
        except (ValueError, GamedayError) as error:
            problems.append(f"{label}: evidence.json: {error}")
    return listed


def _check_history(directory: Path, digest: str, history_path: Path, problems: list[str], notes: list[str]) -> None:
    recorded = [r for r in history.read(history_path).records if r.get("run_id") == directory.name]
    if not recorded:
        notes.append(f"{history_path} has no record of {directory.name}; manifest not cross-checked")
    elif recorded[-1].get("manifest_sha256") != digest:
        problems.append(f"{directory.name}: {manifest.NAME} has sha256 {digest[:16]}…, but {history_path.name} recorded "
                        f"{str(recorded[-1].get('manifest_sha256'))[:16]}… when the run ended: the manifest was rewritten")
    else:
        notes.append(f"{directory.name}: manifest matches {history_path.name}")


def verify(path: Path, history_path: Path | None = None) -> VerifyResult:
    """Check a pack's files against its manifest, then each earlier pack of its chain that is present.

    ``history_path`` (default: ``<path>/../../history.jsonl`` when it exists) cross-checks the newest
    manifest, which nothing later in the chain vouches for. Never raises for a damaged pack: every
    problem is in the result.
    """
    path = Path(path)
    problems: list[str] = []
    notes: list[str] = []
    checked: list[str] = []
    if not path.is_dir():
        return VerifyResult(path, (f"{path} is not a directory",), (), ())
    if history_path is None and (candidate := path.resolve().parent.parent / "history.jsonl").is_file():
        history_path = candidate
    if history_path is not None and (path / manifest.NAME).is_file():
        _check_history(path, manifest.sha256(path / manifest.NAME), history_path, problems, notes)
    current: Path | None = path
    seen: set[str] = set()
    while current is not None and len(checked) < _CHAIN_LIMIT:
        checked.append(current.name)
        seen.add(current.resolve().as_posix())
        listed = _check_pack(current, problems, notes)
        if listed is None:
            break
        if listed.previous_run_id is None:
            notes.append(f"{current.name} is the first pack of its chain")
            break
        previous = current.parent / listed.previous_run_id
        previous_manifest = previous / manifest.NAME
        if not previous_manifest.is_file():
            notes.append(f"{current.name}: the previous pack {listed.previous_run_id} is not here; "
                         f"the chain is verified back to {current.name} only")
            break
        actual = manifest.sha256(previous_manifest)
        if actual != listed.previous_sha256:
            problems.append(f"broken chain: {current.name} records {listed.previous_run_id}/{manifest.NAME} as sha256 "
                            f"{str(listed.previous_sha256)[:16]}…, but it is {actual[:16]}… (the earlier manifest was "
                            f"changed or replaced)")
        if previous.resolve().as_posix() in seen:
            problems.append(f"broken chain: {current.name} links back to {previous.name}, which is already in the chain")
            break
        current = previous
    return VerifyResult(path, tuple(problems), tuple(notes), tuple(checked))
