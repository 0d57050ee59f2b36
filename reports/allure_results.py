"""An experiment's timeline as allure-pytest artefacts: steps, attachments, labels; and the results dir's files.

Steps are the timeline's phases, named as the timeline names them: "steady state", "inject",
"observe", "recover", "roll back"; each holds the phase's events as sub-steps, with their real start
and stop times. Everything shown is taken from the redacted evidence document of the scenario.
Outside an Allure run (no ``--alluredir``) every call here is a no-op.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import allure
import allure_commons
from allure_commons.reporter import AllureReporter
from allure_commons.types import AttachmentType
from allure_commons.utils import uuid4

from environments.model import AwsEnvironment, LocalEnvironment
from reports import chartsupport
from reports import document as document_
from reports import run as run_
from base.redact import Redactor
from experiments.result import ScenarioResult

PHASES = ("steady state", "inject", "observe", "recover", "roll back")
EPIC = "SecureCart disaster recovery"
FEATURES = {"dns": "Route 53 routing", "latency": "Latency routing", "rds": "Multi-AZ RDS", "az_outage": "AZ outage",
            "region": "Region evacuation", "failover": "Failover"}
_INFRASTRUCTURE = r"StackError|StackNotRunning|EndpointConnectionError|ConnectionRefusedError|ConnectTimeoutError|" \
                  r"NoCredentialsError|ExpiredToken|infrastructure unavailable"
_SLO = r"SLO|acknowledged orders lost"
# Mutually exclusive: the catch-all excludes what the first two match (Allure 2 and 3 both use lookahead-capable regexes).
CATEGORIES = (
    {"name": "Infrastructure unavailable", "matchedStatuses": ["broken", "failed"],
     "messageRegex": f"(?s).*({_INFRASTRUCTURE}).*"},
    {"name": "SLO breached", "matchedStatuses": ["failed"],
     "messageRegex": f"(?s)(?!.*({_INFRASTRUCTURE})).*({_SLO}).*"},
    {"name": "Experiment broken", "matchedStatuses": ["broken", "failed"],
     "messageRegex": f"(?s)(?!.*({_INFRASTRUCTURE}|{_SLO})).*"},
)


def _reporter() -> AllureReporter | None:
    """allure-pytest's reporter while an Allure run is active, else None."""
    for plugin in allure_commons.plugin_manager.get_plugins():
        reporter = getattr(plugin, "allure_logger", None)
        if isinstance(reporter, AllureReporter):
            return reporter
    return None


def phases(scenario: dict[str, Any]) -> list[tuple[str, float, float, list[dict[str, Any]]]]:
    """(phase, start t_s, end t_s, events) in timeline order, from explicit ``phase`` details or derived.

    Phases split the timeline by event position, not time, so events recorded in the same instant
    (a fault's injection and the note that follows it) keep their order.
    """
    events = scenario["timeline"]["events"]
    kinds = [e["kind"] for e in events]
    starts: dict[str, int] = {}
    for index, event in enumerate(events):
        phase = event["details"].get("phase")
        if phase in PHASES:
            starts.setdefault(phase, index)

    def back_over_api_calls(index: int) -> int:
        # a fault's API calls come just before the event it records once they succeeded
        while index > 0 and kinds[index - 1] == "api_call":
            index -= 1
        return index

    starts.setdefault("steady state", 0)
    if "fault_injected" in kinds:
        injected = kinds.index("fault_injected")
        starts.setdefault("inject", back_over_api_calls(injected))
        starts.setdefault("observe", injected + 1)
    recovery = next((m["t_s"] for m in scenario["milestones"] if m["name"] == "recovery"), None)
    if recovery is not None:
        starts.setdefault("recover", next((i for i, e in enumerate(events) if e["t_s"] >= recovery), len(events)))
    for kind in ("fault_rolled_back", "fault_rollback_failed"):
        if kind in kinds:
            starts.setdefault("roll back", back_over_api_calls(kinds.index(kind)))
            break
    ordered = sorted(starts.items(), key=lambda item: (item[1], PHASES.index(item[0])))
    end_all = max([e["t_s"] for e in events] + [recovery or 0.0, scenario["timeline"]["started"]["t_s"]])

    def time_of(name: str, index: int) -> float:
        if name == "steady state" and index == 0:
            return float(scenario["timeline"]["started"]["t_s"])
        if name == "recover" and recovery is not None:
            return float(recovery)
        return float(events[index]["t_s"] if index < len(events) else end_all)

    result = []
    for position, (name, index) in enumerate(ordered):
        following = ordered[position + 1] if position + 1 < len(ordered) else None
        stop_index = following[1] if following else len(events)
        start = time_of(name, index)
        end = max(start, time_of(*following) if following else end_all)
        result.append((name, start, end, events[index:stop_index]))
    return result


def _ms(scenario: dict[str, Any], t_s: float) -> int:
    started = scenario["timeline"]["started"]
    return int((started["wall_time"] + t_s - started["t_s"]) * 1000)


def _step(reporter: Any, scenario: dict[str, Any], title: str, start_s: float, stop_s: float,
          params: dict[str, Any], children: list[dict[str, Any]] | None = None) -> None:
    """A step with the timeline's own times (allure.step would stamp them with "now")."""
    uuid = uuid4()
    allure_commons.plugin_manager.hook.start_step(uuid=uuid, title=title,
                                                  params={k: _short(v) for k, v in params.items()})
    step = reporter.get_item(uuid)
    for event in children or []:
        details = {k: v for k, v in event["details"].items() if k not in ("phase", "milestone")}
        _step(reporter, scenario, f"{event['kind']}: {event['name']}", event["t_s"], event["t_s"], details)
    allure_commons.plugin_manager.hook.stop_step(uuid=uuid, exc_type=None, exc_val=None, exc_tb=None)
    if step is not None:
        step.start, step.stop = _ms(scenario, start_s), _ms(scenario, stop_s)


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def samples_csv(scenario: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["probe", "source", "t_s", "time_utc", "ok", "error", "duration_ms", "value"])
    for kind in ("dns", "checkout"):
        for s in scenario["samples"][kind]:
            writer.writerow([kind, s["source"], s["t_s"], s["iso"], s["ok"], s["error"], s["duration_ms"],
                             json.dumps(s["value"], sort_keys=True)])
    for a in scenario["samples"]["canary"]:
        writer.writerow(["canary", "canary", a["t_s"], a["iso"], a["ok"], a["error"], "", json.dumps({"sequence": a["sequence"]})])
    return buffer.getvalue()


def attach(result: ScenarioResult, redactor: Redactor | None = None) -> dict[str, Any]:
    """Turn ``result`` into steps, attachments and labels of the running Allure test; returns its document."""
    scenario = (redactor or Redactor.from_environment()).document(document_.scenario(result))
    reporter = _reporter()
    if reporter is None:
        return scenario
    allure.dynamic.epic(EPIC)
    for marker in result.markers:
        if marker in FEATURES:
            allure.dynamic.feature(FEATURES[marker])
    allure.dynamic.story(result.title)
    allure.dynamic.severity(result.severity)
    allure.dynamic.label("scenario", result.scenario)
    allure.dynamic.tag(scenario["outcome"])
    if result.runbook:
        allure.dynamic.link(result.runbook, name=f"runbook: {result.scenario}")
    for name, start, end, events in phases(scenario):
        samples = [e for e in events if e["kind"] == "sample"]
        params = {"events": len(events)} | ({"samples": len(samples)} if samples else {})
        _step(reporter, scenario, name, start, end, params, [e for e in events if e["kind"] != "sample"][:200])
    if scenario["samples"]["checkout"] or scenario["samples"]["canary"]:
        charts = chartsupport.charts()
        if charts is None:
            allure.attach(chartsupport.MISSING, name="timeline chart", attachment_type=AttachmentType.TEXT)
        else:
            allure.attach(charts.timeline_png(scenario), name="timeline chart", attachment_type=AttachmentType.PNG)
    allure.attach(samples_csv(scenario), name="samples", attachment_type=AttachmentType.CSV)
    allure.attach(json.dumps(scenario["timeline"], indent=2), name="timeline", attachment_type=AttachmentType.JSON)
    calls = [e for e in scenario["timeline"]["events"]
             if e["kind"] in ("api_call", "fault_injected", "fault_rolled_back", "fault_rollback_failed")]
    allure.attach(json.dumps(calls, indent=2), name=f"API calls of {result.fault}", attachment_type=AttachmentType.JSON)
    if scenario["verdict"] is not None:
        allure.attach(json.dumps(scenario["verdict"], indent=2), name="verdict", attachment_type=AttachmentType.JSON)
    return scenario


def _property(value: str) -> str:
    """Escape for a Java .properties value (what Allure reads)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:")


def write_environment(results_dir: Path, properties: dict[str, str]) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "environment.properties"
    path.write_text("".join(f"{key}={_property(str(value))}\n" for key, value in properties.items()), encoding="utf-8")
    return path


def environment_properties(environment: LocalEnvironment | AwsEnvironment, code: run_.CodeVersion, run_id: str = "") -> dict[str, str]:
    """Environment, account, Regions and code version, for Allure's Environment widget."""
    properties = {"environment": environment.name, "environment.kind": environment.kind,
                  "account": environment.account_id, "regions": ", ".join(environment.regions),
                  "time_scale": str(environment.time_scale), "code.commit": code.commit,
                  "code.dirty": str(code.dirty).lower()}
    if run_id:
        properties["run_id"] = run_id
    return properties


def write_categories(results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "categories.json"
    path.write_text(json.dumps(list(CATEGORIES), indent=2) + "\n", encoding="utf-8")
    return path
