"""The evidence document: a ``Run`` as JSON in the versioned schema ``reports/schema/evidence-v2.json``.

Every output of a pack (report.html, junit.xml, Allure, history) is rendered from this document
after redaction, so the report shows exactly what evidence.json holds. Times of a scenario are
``t_s``: seconds on the monotonic clock since the scenario's timeline started; each also carries its
wall time for people. Scenarios are listed in the order they ran (by the start of their timeline).
Packs written under evidence-v1 still validate against their own schema.
"""
from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from base import clock
from base.errors import GamedayError
from probes.sampler import Sample
from probes.slo import PERCENTILE_METHOD, percentile
from reports import after_action, controls, milestones, traces
from experiments.result import ScenarioResult
from reports.run import Run

SCHEMA_VERSION = "evidence-v2"
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SCHEMA_PATH = SCHEMA_DIR / f"{SCHEMA_VERSION}.json"
READABLE = ("evidence-v1", SCHEMA_VERSION)  # verify still checks packs written before v2
Document = dict[str, Any]


class EvidenceSchemaError(GamedayError):
    """The evidence document does not follow its schema."""


def jsonable(value: Any) -> Any:
    """Plain JSON for whatever a timeline event's details hold (dataclasses, datetimes, Instants, sets)."""
    if isinstance(value, clock.Instant):
        return {"wall_time": value.wall_time, "iso": value.iso}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _at(instant: clock.Instant, origin: clock.Instant) -> dict[str, Any]:
    return {"t_s": round(instant.monotonic_s - origin.monotonic_s, 6), "wall_time": instant.wall_time, "iso": instant.iso}


def _sample(sample: Sample[Any], origin: clock.Instant) -> dict[str, Any]:
    return {**_at(sample.at, origin), "source": sample.source, "ok": sample.ok, "error": sample.error,
            "duration_ms": round(sample.duration_ms, 3), "value": jsonable(sample.value)}


def _latency(result: ScenarioResult, injected_s: float | None, origin: clock.Instant) -> list[dict[str, Any]]:
    rows = []
    for source in sorted({s.source for s in result.checkout}):
        series = [s for s in result.checkout if s.source == source]
        good = [s.value.latency_ms for s in series if s.ok and s.value is not None]
        steady = [s.value.latency_ms for s in series if s.ok and s.value is not None and
                  (injected_s is None or s.at.monotonic_s - origin.monotonic_s < injected_s)]
        rows.append({"source": source, "requests": len(series), "failed": len(series) - len(good),
                     "p50_ms": percentile(good, 50), "p95_ms": percentile(good, 95), "p99_ms": percentile(good, 99),
                     "max_ms": max(good) if good else None, "steady_state_p95_ms": percentile(steady, 95)})
    return rows


def _verdict(result: ScenarioResult, origin: clock.Instant) -> dict[str, Any] | None:
    verdict = result.verdict
    if verdict is None:
        return None
    rto, rpo = verdict.rto, verdict.rpo
    return {
        "passed": verdict.passed, "messages": list(verdict.messages),
        # rto (rpo) null: the scenario measures no recovery time (no data loss), so that objective does not apply.
        "slo": {"rto_s": None if rto is None else verdict.slo.rto_s, "rpo_s": None if rpo is None else verdict.slo.rpo_s,
                "lost_orders": None if rpo is None else verdict.slo.lost_orders},
        "rto": None if rto is None else {
            "wall_s": rto.wall_s, "aws_s": rto.aws_s, "window_wall_s": rto.window_wall_s,
            "outages": [{"source": o.source, "started": _at(o.started, origin),
                         "ended": None if o.ended is None else _at(o.ended, origin),
                         "failed_samples": o.failed_samples} for o in rto.outages]},
        "rpo": None if rpo is None else {"lost_orders": rpo.lost_orders, "acknowledged": rpo.acknowledged,
                                         "wall_s": rpo.wall_s, "aws_s": rpo.aws_s,
                                         "lost_sequences": list(rpo.lost_sequences)},
        # only when there are any: a pack without them reads as an evidence-v1 pack did
        **({"measured": [{"name": m.name, "title": m.title, "kind": m.kind, "wall_s": m.wall_s, "aws_s": m.aws_s,
                          "slo_s": m.slo_s, "passed": m.passed, "detail": m.detail} for m in verdict.measured]}
           if verdict.measured else {}),
    }


def _data_integrity(result: ScenarioResult, origin: clock.Instant) -> dict[str, Any] | None:
    if result.read_back is None and not result.canary_attempts:
        return None
    read_back = result.read_back
    return {
        "attempts": len(result.canary_attempts),
        "failed_attempts": sum(1 for a in result.canary_attempts if not a.ok),
        "acknowledged": read_back.acknowledged if read_back else len(result.canary_acks),
        "read_back": read_back is not None,
        "lost": [] if read_back is None else [
            {"sequence": a.sequence, "client_order_id": a.client_order_id, "order_id": a.order_id,
             "acked_at": _at(a.acked_at, origin)} for a in read_back.missing],
        "unreadable": [] if read_back is None else list(read_back.unreadable),
    }


def scenario(result: ScenarioResult) -> dict[str, Any]:
    origin = result.timeline.started
    injected = result.timeline.of_kind("fault_injected")
    injected_s = injected[0].at.monotonic_s - origin.monotonic_s if injected else None
    fault_params = jsonable(injected[0].details.get("params", {})) if injected else {}
    document = {
        "scenario": result.scenario, "title": result.title, "nodeid": result.nodeid, "markers": list(result.markers),
        "runbook": result.runbook, "severity": result.severity, "outcome": result.outcome,
        "error": result.error,
        "fault": {"name": result.fault, "targets": list(result.targets), "params": fault_params,
                  "injected": None if injected_s is None else _at(injected[0].at, origin)},
        "rollback": {"status": result.rollback_status},
        "verdict": _verdict(result, origin),
        "data_integrity": _data_integrity(result, origin),
        # every list of moments is in time order (reports.consistency checks it): threads stamp an event before
        # they append it, so the timeline itself may hold two neighbours swapped by microseconds
        "milestones": [{"name": m.name, "basis": m.basis, **_at(m.at, origin)}
                       for m in sorted(milestones.find(result), key=lambda m: m.at.monotonic_s)],
        "latency": _latency(result, injected_s, origin),
        "samples": {
            "dns": [_sample(s, origin) for s in sorted(result.dns, key=lambda s: s.at.monotonic_s)],
            "checkout": [_sample(s, origin) for s in sorted(result.checkout, key=lambda s: s.at.monotonic_s)],
            "canary": [{**_at(a.at, origin), "sequence": a.sequence, "ok": a.ok, "error": a.error}
                       for a in sorted(result.canary_attempts, key=lambda a: a.at.monotonic_s)],
            **({"catalog": [_sample(s, origin) for s in sorted(result.catalog, key=lambda s: s.at.monotonic_s)]}
               if result.catalog else {}),
        },
        "timeline": {"name": result.timeline.name, "time_scale": result.timeline.scale.factor,
                     "started": _at(origin, origin),
                     "events": [{"kind": e.kind, "name": e.name, **_at(e.at, origin), "details": jsonable(e.details)}
                                for e in sorted(result.timeline, key=lambda e: e.at.monotonic_s)]},
        "controls_declared": None if result.controls is None else list(result.controls),
    }
    if result.traces is not None:
        document["traces"] = traces.document(result.traces)
    document["controls"] = controls.evidenced(document)
    return document


def build(run: Run, scenarios: list[dict[str, Any]] | None = None, signing: dict[str, str] | None = None) -> Document:
    """The whole run as an evidence document (not yet redacted: ``reports.evidence`` redacts before writing).

    ``scenarios`` are scenario documents made elsewhere (pytest-xdist workers); by default they are
    made from ``run.scenarios``. ``signing``: {"method", "key_fingerprint"} of the key the pack is
    signed with. The after-action section holds this run's deficiencies; ``reports.evidence`` adds
    owners from the findings file and follow-up from history.
    """
    scenarios = [scenario(result) for result in run.scenarios] if scenarios is None else scenarios
    scenarios = sorted(scenarios, key=lambda s: s["timeline"]["started"]["wall_time"])  # the order they ran in
    counts = {outcome: sum(1 for s in scenarios if s["outcome"] == outcome)
              for outcome in ("passed", "slo_breached", "experiment_broken", "infrastructure_unavailable")}
    document: Document = {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "run_id": run.run_id, "operator": run.operator, "host": run.host, "scope": run.scope,
            "code": {"commit": run.code.commit, "dirty": run.code.dirty, "branch": run.code.branch},
            "environment": {"name": run.environment, "kind": run.environment_kind, "account_id": run.account_id,
                            "regions": list(run.regions), "time_scale": run.time_scale},
            "window": {"started_at": run.started.iso, "ended_at": run.ended.iso,
                       "duration_s": round(run.ended.monotonic_s - run.started.monotonic_s, 3)},
            "settings": [{"name": s.name, "value": s.value, "source": s.source} for s in run.settings],
            "slos": {"checkout_p95_latency_ms": run.checkout_p95_latency_slo_ms,
                     "stability_window_s": run.stability_window_s, "percentile_method": PERCENTILE_METHOD},
            "signing": signing,
        },
        "summary": {"scenarios": len(scenarios), **counts,
                    "passed_all": bool(scenarios) and counts["passed"] == len(scenarios)},
        "scenarios": scenarios,
        "controls": [{"id": c.id, "framework": c.framework, "title": c.title, "requirement": c.requirement,
                      "evidenced_by": c.evidenced_by,
                      "scenarios": [{"scenario": s["scenario"], "status": controls.status(s, c.id)} for s in scenarios]}
                     for c in controls.CONTROLS],
    }
    document["after_action"] = after_action.build(document, None, (), None)
    return document


@cache
def schema(version: str = SCHEMA_VERSION) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{version}.json").read_text())
    return loaded


@cache
def _validator(version: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(version), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def validate(document: Document, versions: tuple[str, ...] = (SCHEMA_VERSION,)) -> None:
    """Raises EvidenceSchemaError naming the first invalid field, its value and the rule it breaks.

    ``versions``: the schema versions accepted (writing: the current one; verifying: ``READABLE``).
    """
    version = document.get("schema_version") if isinstance(document, dict) else None
    if version not in versions:
        raise EvidenceSchemaError(f"evidence document at schema_version: {version!r}; allowed: {', '.join(versions)}")
    validator = _validator(str(version))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        raise EvidenceSchemaError(f"evidence document at {where}: {first.message} (schema {version}, "
                                  f"{len(errors)} error(s) in all)")
