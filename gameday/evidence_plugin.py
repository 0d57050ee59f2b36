"""The reports' pytest plugin: the ``evidence`` fixture, the pack at session end, Allure files, the summary.

An experiment ends with ``evidence.submit(ScenarioResult(...))``. That makes its Allure steps,
attachments and labels, and keeps the scenario for the pack. Under pytest-xdist each worker spools
its scenarios (already redacted) to ``<evidence-dir>/.spool/<run-id>/``; the controller, which
alone writes the pack, collects them at session end. A session with no submitted scenario writes
nothing. While the workers run, the controller, otherwise idle, draws the report's charts of each
scenario that has arrived (``ChartWarmer``), so the pack is written soon after the last experiment.

The evidence directory is checked, and the signing key (``reports.signing``) and the findings file
(``reports.findings``) are loaded, when the session starts: a bad one stops the run before any fault, not after it.
"""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

from base import clock, files
from environments.model import AwsEnvironment, LocalEnvironment
from base.errors import GamedayError
from gameday import fixtures
from reports import allure_results, evidence as evidence_, findings as findings_, run as run_, signing, terminal
from base.redact import Redactor
from experiments.result import ScenarioResult

if TYPE_CHECKING:
    from gameday.settings import Resolved

RUN_ID_KEY = "gameday_run_id"


@dataclass
class Session:
    run_id: str
    started: clock.Instant
    out_root: Path
    enabled: bool
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    pack: evidence_.Pack | None = None
    error: str = ""
    signer: signing.PackSigner | None = None
    findings: findings_.Findings | None = None

    @property
    def spool(self) -> Path:
        return self.out_root / ".spool" / self.run_id


SESSION_KEY = pytest.StashKey[Session]()


class Recorder:
    """What the ``evidence`` fixture gives an experiment."""

    def __init__(self, session: Session, worker: str) -> None:
        self._session, self._worker = session, worker

    def submit(self, result: ScenarioResult) -> dict[str, Any]:
        """Record ``result`` for the pack and the Allure report; returns its (redacted) scenario document."""
        scenario = allure_results.attach(result, Redactor.from_environment())
        if self._worker:
            files.make_dirs(self._session.spool, exist_ok=True)  # another run may remove .spool when it is empty
            path = self._session.spool / f"{self._worker}-{len(self._session.scenarios):04d}.json"
            files.write_json(path, scenario)  # the controller never reads half a file
        self._session.scenarios.append(scenario)
        return scenario


class ChartWarmer:
    """The xdist controller's head start on the report: each scenario a worker spools is drawn by one
    background thread (``reports.html.warm``) while the other experiments run; the report at session end
    copies those charts and draws only what is missing. Nothing here decides the pack: a scenario that
    cannot be read or drawn yet is simply drawn (or fails, loudly) when the pack is written."""

    def __init__(self, spool: Path, slo_ms: float | None) -> None:
        self.spool, self.slo_ms = spool, slo_ms
        self.seen: set[str] = set()
        self.drawing: list[Future[None]] = []
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="gameday-charts")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" or not self.spool.is_dir():
            return
        for path in sorted(self.spool.glob("*.json")):  # written whole (write_json), never half
            if path.name not in self.seen:
                self.seen.add(path.name)
                self.drawing.append(self.pool.submit(self._warm, path))

    def _warm(self, path: Path) -> None:
        from reports import html

        try:
            html.warm(json.loads(path.read_text(encoding="utf-8")), self.slo_ms)
        except Exception:  # noqa: BLE001 - only a head start; writing the pack draws it again and reports any error
            pass

    def close(self) -> None:
        """Stop drawing ahead: what is still queued is left to the pack; the chart being drawn is finished."""
        self.pool.shutdown(wait=True, cancel_futures=True)


WARMER = "gameday-chart-warmer"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gameday-reports", "gameday: evidence and reports")
    group.addoption("--gameday-evidence-dir", dest="evidence_dir", default=None,
                    help="where evidence packs go, one directory per run (default: reports/out in the rootdir); "
                         "the history file goes beside it")
    group.addoption("--gameday-no-evidence", dest="no_evidence", action="store_true", default=False,
                    help="do not write an evidence pack at the end of the session")
    group.addoption("--gameday-signing-kms-key-id", "--signing-kms-key-id", dest="signing_kms_key_id", default=None,
                    help=f"AWS KMS key (id, ARN, alias) that signs the pack; overrides ${signing.KMS_VARIABLE} and the "
                         f"key file variables (docs/evidence.md)")


def pytest_configure(config: pytest.Config) -> None:
    worker_input = getattr(config, "workerinput", None)
    # The project's directory (pytest's rootdir), never the installed package's.
    out_root = Path(config.getoption("evidence_dir") or config.rootpath / "reports" / "out")
    started = clock.now()
    run_id = worker_input[RUN_ID_KEY] if worker_input and RUN_ID_KEY in worker_input else _run_id(started)
    config.stash[SESSION_KEY] = Session(run_id, started, out_root, not config.getoption("no_evidence"))


def _run_id(started: clock.Instant) -> str:
    """The process's run id (base.runid: $GAMEDAY_RUN_ID or a new one), shared with tags and FIS."""
    try:
        from base import runid
    except ImportError:  # older tree without base.runid
        return run_.new_run_id(started)
    return runid.current()


def _kms_client(environment: LocalEnvironment | AwsEnvironment, instance: int | None) -> Callable[[str], Any]:
    """The KMS client for a key id: the Region of its ARN, else the environment's first Region.

    On a local environment that is the local stack's KMS (instance as the fixtures choose it); its keys
    live as long as the stack, so real signing belongs on an aws environment.
    """
    from gameday import target

    clients = target.for_environment(environment, fixtures.default_instance() if instance is None else instance).clients

    def client(key_id: str) -> Any:
        parts = key_id.split(":")
        return clients("kms", parts[3] if key_id.startswith("arn:") and len(parts) > 3 else list(environment.regions)[0])
    return client


def _check_out_root(out_root: Path, option: str | None) -> None:
    """Refuse an evidence directory the pack could not be written into, before any experiment runs rather than
    after all of them. One that does not exist yet is made when the pack is written; nothing is made here."""
    named = f"--gameday-evidence-dir {option}" if option else f"the evidence directory {out_root} (the default)"
    existing = next(p for p in [out_root, *out_root.parents] if p.exists())
    if not existing.is_dir():
        where = "is a file" if existing == out_root else f"is under {existing}, which is a file"
        raise evidence_.EvidenceError(f"{named}: {where}; give a directory (made when missing), or "
                                      "--gameday-no-evidence")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise evidence_.EvidenceError(f"{named}: {existing} is not writable; give a directory this user can write")
    if (out_root.parent / "history.jsonl").is_dir():
        raise evidence_.EvidenceError(f"{named}: the history file beside it, {out_root.parent / 'history.jsonl'}, is "
                                      "a directory; remove it or give another evidence directory")


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(SESSION_KEY, None)
    if state is None or hasattr(config, "workerinput") or not state.enabled:
        return
    from environments import loader
    from gameday.plugin import SETTINGS_KEY

    resolved = config.stash[SETTINGS_KEY]
    try:
        _check_out_root(state.out_root, config.getoption("evidence_dir"))
        environment = loader.load(resolved.env)
        state.findings = findings_.load(findings_.path_for(loader.resolve(resolved.env)))
        kms_client = _kms_client(environment, resolved.instance)
        key_id = config.getoption("signing_kms_key_id")
        state.signer = (signing.from_kms(kms_client(key_id), key_id, f"--signing-kms-key-id {key_id}") if key_id else
                        signing.from_environment(kms_client=kms_client))
    except GamedayError as error:
        raise pytest.UsageError(f"gameday: {error}") from None
    if config.pluginmanager.has_plugin("dsession"):  # an xdist controller: its workers run the experiments
        config.pluginmanager.register(ChartWarmer(state.spool, environment.slos.checkout_p95_latency_ms), WARMER)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker spools under the controller's run id."""
    node.workerinput[RUN_ID_KEY] = node.config.stash[SESSION_KEY].run_id


@pytest.fixture
def gameday_evidence(request: pytest.FixtureRequest) -> Recorder:
    """``gameday_evidence.submit(ScenarioResult(...))`` at the end of an experiment (alias ``evidence``)."""
    # the config, not $PYTEST_XDIST_WORKER, says whether this session is a worker: a pytester run
    # inside a worker inherits the variable but is a session of its own
    worker_input = getattr(request.config, "workerinput", None)
    return Recorder(request.config.stash[SESSION_KEY], worker_input["workerid"] if worker_input else "")


evidence = fixtures.alias("gameday_evidence", "function")


def _environment(config: pytest.Config) -> tuple[LocalEnvironment | AwsEnvironment, Resolved]:
    from environments import loader
    from gameday.plugin import SETTINGS_KEY

    return loader.load(config.stash[SETTINGS_KEY].env), config.stash[SETTINGS_KEY]


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return  # the controller writes the pack
    state = config.stash[SESSION_KEY]
    warmer = config.pluginmanager.get_plugin(WARMER)
    if warmer is not None:
        warmer.close()
        config.pluginmanager.unregister(warmer)
    scenarios = list(state.scenarios)
    if state.spool.is_dir():
        scenarios += [json.loads(p.read_text(encoding="utf-8")) for p in sorted(state.spool.glob("*.json"))]
        shutil.rmtree(state.spool, ignore_errors=True)
        try:
            state.spool.parent.rmdir()
        except OSError:
            pass  # another run's spool is still there
    environment, resolved = _environment(config)
    code = run_.code_version()
    allure_dir = getattr(config.option, "allure_report_dir", None)
    if allure_dir:
        allure_results.write_environment(Path(allure_dir),
                                         allure_results.environment_properties(environment, code, state.run_id))
        allure_results.write_categories(Path(allure_dir))
    if not scenarios or not state.enabled:
        return
    run = run_.create(environment, (), state.started, clock.now(), settings=run_.settings_in_force(resolved),
                      run_id=state.run_id)
    try:
        state.pack = evidence_.write_pack(run, state.out_root, state.out_root.parent / "history.jsonl",
                                          scenarios=scenarios, signer=state.signer, findings=state.findings)
    except (GamedayError, OSError) as error:
        state.error = f"gameday: the evidence pack was not written: {error}"
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        return
    if state.pack.signing_error:  # the evidence is kept, but a pack meant to be signed is not: fail the run
        state.error = (f"gameday: the evidence pack {state.pack.directory} is UNSIGNED: {state.pack.signing_error}; "
                       f"`gameday verify --key` will fail it")
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    state = config.stash.get(SESSION_KEY, None)
    if state is None or hasattr(config, "workerinput"):
        return
    if state.error:
        terminalreporter.write_line(state.error, red=True)
    if state.pack is not None:
        terminalreporter.section("gameday evidence")
        terminalreporter.write(terminal.render(state.pack.document, state.pack.report, state.pack.manifest_sha256,
                                               color=bool(terminalreporter.isatty)))
