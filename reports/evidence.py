"""The evidence pack, ``reports/out/<run-id>/``, and its verification.

A pack holds evidence.json (schema evidence-v2, redacted), report.html, junit.xml and
MANIFEST.sha256, chained to the previous pack: the last run history.jsonl recorded whose pack is in
the same directory, else the pack with the newest manifest. Choosing the previous pack, writing the
manifest, signing it (MANIFEST.dsse.json, ``reports.signing``) and appending the history line happen
under one lock, so concurrent runs form one chain, in the order history.jsonl shows.

``verify`` checks the files against the manifest and the chain, the document's own consistency
(``reports.consistency``), the history line, and with a public key the signature: only the
signature stops someone who rewrites the pack, its manifest and history.jsonl together.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from base.errors import GamedayError
from reports import document as document_
from reports import after_action, consistency, history, html, junit, manifest, signing
from reports.document import Document
from reports.filelock import exclusive
from reports.findings import Findings
from base.redact import Redactor
from reports.run import Run

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
REQUIRED = ("evidence.json", "report.html", "junit.xml")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # base.runid's rule
_CHAIN_LIMIT = 10_000


class EvidenceError(GamedayError):
    """The evidence pack could not be written."""


@dataclass(frozen=True)
class Pack:
    directory: Path
    manifest_sha256: str
    previous_run_id: str | None
    document: document_.Document
    signing_error: str | None = None  # the pack was to be signed, but signing failed: it is kept unsigned

    @property
    def report(self) -> Path:
        return self.directory / "report.html"


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the project when inside it."""
    try:
        return path.resolve().relative_to(DEFAULT_OUT.parent.parent).as_posix()
    except ValueError:
        return str(path)


def _write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())


def _write_files(directory: Path, document: Document, past: list[dict[str, object]], redactor: Redactor) -> None:
    """evidence.json, report.html and junit.xml of ``document``; EvidenceError if a secret would be kept."""
    this = history.record(document, directory, "", None)
    _write(directory / "evidence.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    _write(directory / "report.html", html.render(document, past + [this] if past else None))
    _write(directory / "junit.xml", junit.render(document))
    leaks = redactor.leaks(directory / name for name in REQUIRED)
    if leaks:
        raise EvidenceError(f"refusing to keep evidence pack {directory}: {'; '.join(leaks)}")


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
               scenarios: list[document_.Document] | None = None, signer: signing.PackSigner | None = None,
               findings: Findings | None = None) -> Pack:
    """Write the pack of ``run`` under ``out_root``, chain it, sign it, and append the run to ``history_path``.

    Raises EvidenceSchemaError if the document breaks its schema, EvidenceError if the pack exists
    already or a secret would be written (the partial pack is removed). ``scenarios``: scenario
    documents made elsewhere (pytest-xdist workers) instead of ``run.scenarios``. ``signer``: None
    writes an unsigned pack. ``findings``: the team's findings file, for the after-action section.
    A failed signature does not lose the evidence: the pack is kept unsigned, ``run.signing.error``
    says why, and ``Pack.signing_error`` tells the caller, who must fail the run.
    """
    redactor = redactor or Redactor.from_environment()
    key = None if signer is None else {"method": signer.method, "key_fingerprint": signer.fingerprint}
    document = document_.build(run, scenarios, key)
    same_place = [r for r in (history.read(history_path).records if history_path else ())
                  if r["environment"] == run.environment and r["account_id"] == run.account_id]
    document["after_action"] = after_action.build(document, findings, same_place,
                                                  None if findings is None else _shown(findings.path))
    document = redactor.document(document)
    document_.validate(document)
    directory = out_root / run.run_id
    out_root.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir()
    except FileExistsError:
        raise EvidenceError(f"evidence pack {directory} exists already; a run id is used once") from None
    past = same_place[-(trend_runs - 1):]
    signing_error = None
    try:
        _write_files(directory, document, past, redactor)
        with exclusive(out_root / ".chain.lock"):
            previous = previous_pack(out_root, run.run_id, history_path)
            digest = manifest.write(directory, previous)
            if signer is not None:
                link = None if previous is None else (previous.name, manifest.sha256(previous / manifest.NAME))
                try:
                    signing.sign(directory, signer, run.run_id, link)
                except signing.SigningError as error:
                    # the run's evidence outlives a failed signature (KMS throttled at the end of a game day): keep
                    # the pack unsigned, saying why in it, and let the caller fail the run loudly
                    signing_error = redactor.text(str(error))
                    document["run"]["signing"] = {**document["run"]["signing"], "error": signing_error}
                    (directory / signing.ENVELOPE).unlink(missing_ok=True)
                    _write_files(directory, document, past, redactor)
                    digest = manifest.write(directory, previous)
            if history_path is not None:
                history.append(history_path, history.record(document, directory, digest,
                                                             previous.name if previous else None))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Pack(directory, digest, previous.name if previous else None, document, signing_error)


@dataclass(frozen=True)
class VerifyResult:
    path: Path
    problems: tuple[str, ...]  # tampering or damage: any problem fails verification
    notes: tuple[str, ...]  # what was checked and where the chain stops
    packs_checked: tuple[str, ...]
    warnings: tuple[str, ...] = ()  # what could not be checked (history, signature)
    key_fingerprint: str | None = None  # the --key the signature was checked with

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def message(self) -> str:
        signed = f", signed by {self.key_fingerprint}" if self.key_fingerprint else ""
        head = (f"OK: {self.path} and {len(self.packs_checked) - 1} earlier pack(s) of its chain are intact{signed}"
                if self.ok else f"TAMPERED: {self.path}: {len(self.problems)} problem(s)")
        return "\n".join([head, *(f"  - {p}" for p in self.problems), *(f"  ! {w}" for w in self.warnings),
                          *(f"  · {n}" for n in self.notes)])


def _check_pack(directory: Path, problems: list[str], notes: list[str]) -> tuple[manifest.Manifest | None, Document | None]:
    label = directory.name
    manifest_path = directory / manifest.NAME
    if not manifest_path.is_file():
        problems.append(f"{label}: {manifest.NAME} is missing: the pack cannot be checked")
        return None, None
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
    evidence = None
    if evidence_path.is_file() and listed.files.get("evidence.json") == manifest.sha256(evidence_path):
        try:
            evidence = json.loads(evidence_path.read_text(encoding="utf-8"))
            document_.validate(evidence, document_.READABLE)
        except (ValueError, GamedayError) as error:
            problems.append(f"{label}: evidence.json: {error}")
            return listed, None
        if evidence["run"]["run_id"] != label:
            notes.append(f"{label}: evidence.json is run {evidence['run']['run_id']}; the directory was renamed")
        problems += [f"{label}: inconsistent: {p}" for p in consistency.check(evidence)]
        if not consistency.order_checked(evidence):
            notes.append(f"{label}: {evidence['schema_version']} pack: the order of its timeline, milestones, "
                         f"samples and scenarios is not checked (that writer did not sort them)")
    return listed, evidence


def _check_history(directory: Path, digest: str, evidence: Document | None, history_path: Path | None,
                   problems: list[str], warnings: list[str], notes: list[str]) -> None:
    if history_path is None or not history_path.is_file():
        warnings.append("history not cross-checked: no history.jsonl beside the pack (--history names one); "
                        "nothing vouches for the newest manifest but its signature")
        return
    read = history.read(history_path)
    warnings.extend(read.problems)  # a line it cannot use may be this run's
    recorded = [r for r in read.records if r.get("run_id") == directory.name]
    if not recorded:
        warnings.append(f"history not cross-checked: {history_path} has no record of {directory.name}")
        return
    if recorded[-1].get("manifest_sha256") != digest:
        problems.append(f"{directory.name}: {manifest.NAME} has sha256 {digest[:16]}…, but {history_path.name} recorded "
                        f"{str(recorded[-1].get('manifest_sha256'))[:16]}… when the run ended: the manifest was rewritten")
    else:
        notes.append(f"{directory.name}: manifest matches {history_path.name}")
    if evidence is not None:
        problems += [f"{directory.name}: {p}" for p in consistency.against_history(evidence, recorded[-1])]


def _check_unsigned(label: str, evidence: Document, problems: list[str], warnings: list[str]) -> None:
    """A pack without an envelope whose evidence.json names a signing key: its signature was removed,
    unless the run recorded that signing failed."""
    named = evidence["run"].get("signing") or {}
    if not named.get("key_fingerprint"):
        return
    if named.get("error"):
        warnings.append(f"{label}: unsigned: signing with {named['key_fingerprint']} failed when the run ended "
                        f"({named['error']}); only the manifest and history vouch for this pack")
    else:
        problems.append(f"{label}: signature removed: evidence.json names signing key {named['key_fingerprint']} "
                        f"(report.html says \"Signed by\" it), but {signing.ENVELOPE} is missing")


def require_readable_history(history_path: Path) -> None:
    """Raise EvidenceError unless the history file named by ``verify --history`` can be read: a typo or a directory
    must not pass for a pack that has no history to cross-check."""
    try:
        with open(history_path, "rb"):
            pass
    except OSError as error:
        raise EvidenceError(f"--history {history_path}: cannot read it: {error.strerror}; give the history.jsonl the "
                            f"run appended to (reports/history.jsonl beside reports/out), or leave --history out to "
                            f"use that one when it exists") from None


def verify(path: Path, history_path: Path | None = None, key: Path | None = None) -> VerifyResult:
    """Check a pack's signature (with ``key``, a public key file), its files against its manifest, its consistency,
    then each earlier pack of its chain that is present.

    ``history_path`` (default: ``<path>/../../history.jsonl`` when it exists) cross-checks the newest
    manifest. Raises SigningError for an unusable key; never raises for a damaged pack: every
    problem is in the result. With ``key``, an unsigned pack fails; with or without it, so does a pack whose
    evidence.json names a signing key but whose envelope is missing (unless signing failed when the run ended).
    """
    path = Path(path)
    public_key, key_fingerprint = signing.load_public_key(key) if key is not None else (None, None)
    problems: list[str] = []
    notes: list[str] = []
    warnings: list[str] = []
    checked: list[str] = []
    if not path.is_dir():
        raise EvidenceError(f"{path}: no such evidence pack (a directory reports/out/<run-id>)")
    if history_path is None and (candidate := path.resolve().parent.parent / "history.jsonl").is_file():
        history_path = candidate
    signature = signing.check(path, public_key, key_fingerprint)
    problems += signature.problems
    (notes if public_key is not None else warnings).extend(signature.notes)
    current: Path | None = path
    seen: set[str] = set()
    while current is not None and len(checked) < _CHAIN_LIMIT:
        checked.append(current.name)
        seen.add(current.resolve().as_posix())
        listed, evidence = _check_pack(current, problems, notes)
        if current == path:
            if evidence is not None and key_fingerprint is not None:
                recorded = (evidence["run"].get("signing") or {}).get("key_fingerprint")
                if recorded != key_fingerprint:
                    notes.append(f"{current.name}: evidence.json names signing key {recorded}, checked with {key_fingerprint}")
            if evidence is not None and not signature.signed:
                _check_unsigned(path.name, evidence, problems, warnings)
            if (path / manifest.NAME).is_file():
                _check_history(path, manifest.sha256(path / manifest.NAME), evidence, history_path, problems, warnings,
                               notes)
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
    return VerifyResult(path, tuple(problems), tuple(notes), tuple(checked), tuple(warnings),
                        key_fingerprint if signature.signed and not problems else None)
