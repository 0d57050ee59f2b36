"""The `gameday` command: the local stack's lifecycle, and the game day itself."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence, TextIO

from base import exitcodes, runid
from base.numbers import whole_number
from gameday.awsfailures import aws_failure
from base.errors import GamedayError, SettingsError, StackNotRunning
from stack.local import partnames

def _instance(args: argparse.Namespace) -> Any:
    from environments import loader
    from environments.model import LocalEnvironment
    from stack.local.instance import Instance, instance_from_environ

    environment = loader.load(args.env)
    if not isinstance(environment, LocalEnvironment):
        raise SettingsError(f"--env: {args.env!r} is a {environment.kind} environment; the local stack needs a local one")
    number = args.instance if args.instance is not None else instance_from_environ()
    return environment, Instance(number, environment)


def stack_up(args: argparse.Namespace) -> int:
    from stack.local import supervisor

    environment, instance = _instance(args)
    parts = partnames.select_parts(args.parts)
    if args.detach:
        state = supervisor.start_detached(args.env, instance, parts=args.parts)
        print(f"local stack instance {instance.number} is up: {state['aws_endpoint']} (pid {state['pid']}); "
              f"`gameday stack down{instance.option}` stops it")
        return 0
    print(f"local stack instance {instance.number} starting at {instance.aws_endpoint}; Ctrl-C stops it", flush=True)
    supervisor.Supervisor(environment, instance, parts).run()
    return 0


def _print_stack(built: Any, where: str, dig: str = "") -> None:
    print(f"reference stack {where} (hosted zone {built.zone_name} {built.zone_id})")
    print(f"  checkout name   {built.names.checkout}" + (f"  ({dig})" if dig else ""))
    for database in (built.database, built.replica):
        if database is not None:
            print(f"  database        {database.identifier} in {database.region}: {database.endpoint}")
    for instance_ in built.instances:
        print(f"  checkout        {instance_.instance_id} {instance_.availability_zone:<16} "
              f"{instance_.private_ip}:{instance_.port}  health check {instance_.health_check_id}")
    if built.cdn is not None:
        print(f"  distribution    {built.cdn.distribution_id} {built.cdn.domain_name}: assets s3://{built.cdn.bucket}, "
              f"{built.cdn.api_path} -> {' then '.join(built.cdn.api_origins)}")
    if built.extra.get("accelerator_addresses"):
        print(f"  accelerator     {built.extra['accelerator_addresses']} ({built.extra['accelerator_dns_name']}): "
              f"checkout's port, nearest healthy Region")


def stack_build(args: argparse.Namespace) -> int:
    """Build SecureCart's reference stack (idempotent) and say what is where; --dry-run: what a build would create,
    with an hourly cost estimate; --attach: find the existing stack by its tags. Local: on the running local stack;
    aws: in the account, once the guard has checked the account and Regions."""
    from environments import loader
    from environments.model import AwsEnvironment
    from gameday import target as target_
    from stack import builder, discovery, plan
    from stack.local import attach, supervisor

    if args.attach and args.dry_run:
        raise SettingsError("--attach and --dry-run: attaching reads only and builds nothing already; give one")
    if isinstance(loader.load(args.env), AwsEnvironment):
        target, _ = _target(args, "gameday stack build")
        environment = loader.load(args.env)
        options = builder.options_from_environ(wait_delay_s=10.0, wait_attempts=90)
        where = f"in account {environment.account_id}"
        dig = ""
    else:
        environment, instance = _instance(args)
        running = supervisor.running_pid(instance) is not None
        if running or not args.dry_run:
            attach.require_same_scale(instance, environment)
        target = target_.for_environment(environment, instance.number)
        environment = instance.resolved()
        options = builder.options_from_environ(wait_delay_s=0.25, wait_attempts=480, nameserver=target.nameserver,
                                               copy_back_orphaned_orders=args.copy_back_orphaned_orders, accelerator=True,
                                               hybrid=True)
        where = f"on {instance.aws_endpoint}"
        dig = f"dig @{instance.control_host} -p {instance.dns_port} ..."
        if args.dry_run and not running:
            print(plan.render(plan.plan(environment, options, None, runid.current())))
            return 0
    if args.dry_run:
        planned = plan.plan(environment, options, target.clients, runid.current())
        print(plan.render(planned))
        return exitcodes.FAILED if planned.problems else exitcodes.OK
    if args.attach:
        _print_stack(discovery.discover(environment, target.clients), f"found by its tags {where}", dig)
        return 0
    made = builder.Builder(environment, target.clients, options)
    built = made.build()
    for line in made.converged:
        print(f"converged: {line}")
    _print_stack(built, f"built {where}", dig)
    print(f"  run id          {made.run_id}: `gameday stack teardown --run-id {made.run_id}` removes what this "
          "build created")
    return 0


def stack_teardown(args: argparse.Namespace) -> int:
    """Remove exactly what the build with run id --run-id created (its gameday:run and gameday:stack tags)."""
    from stack import accelerator, teardown

    target, _ = _target(args, "gameday stack teardown")
    local = target.name.startswith("local-")
    # Global Accelerator is built on the local stack only (BuildOptions.accelerator); removed first, as it points at instances.
    accelerators = accelerator.find(target.clients, args.stack_name, args.run_id) if local else []
    found = teardown.find(target.clients, target.regions, args.stack_name, args.run_id)
    if not found and not accelerators:
        print(f"nothing of run {args.run_id} (gameday:stack={args.stack_name}) is left in {target.name} "
              f"({', '.join(target.regions)})")
        return exitcodes.OK
    if _dry_run(args):
        print(f"dry run: teardown of run {args.run_id} would delete {len(found) + len(accelerators)} resource(s); "
              "nothing was deleted")
        for arn in accelerators:
            print(f"  {'accelerator':<16} {'global':<15} {arn}")
        for item in found:
            print(f"  {item.kind:<16} {item.region:<15} {item.id}" + (f"  {item.name}" if item.name != item.id else ""))
        return exitcodes.OK
    for line in accelerator.remove(target.clients, accelerators):
        print(line)
    for line in teardown.remove(target.clients, found, delay_s=0.25 if local else 10.0, attempts=480 if local else 180):
        print(line)
    return exitcodes.OK


def stack_down(args: argparse.Namespace) -> int:
    from stack.local import supervisor

    _, instance = _instance(args)
    notes = supervisor.stop(instance)
    print("\n".join(notes) if notes else f"no local stack was running for instance {instance.number}")
    return 0


def stack_status(args: argparse.Namespace) -> int:
    from stack.local import supervisor

    _, instance = _instance(args)
    live = supervisor.live_status(supervisor.require_running(instance)["aws_endpoint"])
    if args.json:
        print(json.dumps(live, indent=2))
        return 0
    print(f"local stack instance {live['instance']}  pid {live['pid']}  environment {live['environment']}  "
          f"time_scale {live['time_scale']}")
    print(f"  AWS endpoint   {live['aws_endpoint']}   ({live['api_calls']} API calls)")
    dns = live["dns"]
    print(f"  DNS            {dns['host']}:{dns['port']}" + ("" if dns.get("serving") else "   (not serving)"))
    print(f"  Regions        {', '.join(live['regions'])}")
    for name, vp in live["vantage_points"].items():
        print(f"  vantage point  {name:<10} {vp['subnet']:<16} {vp['continent']}/{vp['country']}/{vp['subdivision'] or '-'}")
    for name, part in live.get("parts", {}).items():
        print(f"  part {name}: {json.dumps(part)}")
    degraded = supervisor.degraded_parts(live)
    print(f"  health         {'DEGRADED' if degraded else 'healthy'}" +
          (f" (what is not enforced, per part):\n{supervisor.describe_degraded(degraded)}" if degraded else ""))
    print(f"  state dir      {live['state_dir']}")
    print(f"  logs           {live['logs']['supervisor']}")
    return 0


def stack_site_link(args: argparse.Namespace) -> int:
    """Cut or restore a site's link in the running stack's fabric (what a local site action runs)."""
    from stack.local.fabric.client import FabricClient
    from stack.local.fabric.errors import FabricUnavailable
    from stack.local.fabric.process import control_path

    _, instance = _instance(args)
    # The fabric's control socket alone, not the supervisor's machinery: a site action runs this while
    # the game day watches the clock.
    try:
        state = FabricClient(str(control_path(instance.state_dir / "fabric"))).set_link_state(args.link, args.state == "up")
    except FabricUnavailable as error:
        raise StackNotRunning(f"no local stack's fabric answers for instance {instance.number} ({error}); start one with "
                              f"`gameday stack up --detach{instance.option}`") from None
    print(json.dumps(state) if args.json else f"{args.link}: {'up' if state['up'] else 'down'} "
          f"(BGP {'advertised' if state['advertised'] else 'withdrawn'})")
    return 0


def _target(args: argparse.Namespace, doing: str) -> Any:
    """(target, guard) once the guard has checked that the credentials are for the environment's account."""
    from environments import loader
    from faults import guard as guard_
    from gameday import target
    from stack.local.instance import instance_from_environ

    environment = loader.load(args.env)
    number = args.instance if args.instance is not None else instance_from_environ()
    aimed = target.for_environment(environment, number)
    guard = guard_.Guard(guard_.Policy.for_environment(environment))
    guard.check_caller(aimed.clients, list(guard.policy.regions), doing)
    return aimed, guard


def _dry_run(args: argparse.Namespace) -> bool:
    from gameday import settings

    setting = next(s for s in settings.SETTINGS if s.name == "dry_run")
    return bool(args.dry_run) or settings._bool(setting, os.environ.get(setting.variable, ""))


def recover(args: argparse.Namespace) -> int:
    """Roll back every fault the journal says is still injected (after kill -9, a crash, a lost CI runner), then
    name each difference of the DR topology from the spec that is left; exit 1 if any."""
    from environments import loader
    from faults import leftovers
    from stack import topology

    target, _ = _target(args, "gameday recover")
    if _dry_run(args):
        planned = leftovers.planned_recovery(target.name)
        print(f"dry run: {len(planned)} journaled fault(s) to roll back for {target.name}; no call was made")
        for result, calls, note in planned:
            print(f"{result.outcome:<16} {result.fault} {json.dumps(result.params)} (entry {result.entry_id[:8]})")
            print("".join(f"    {call.text()}\n" for call in calls) + (f"    {note}" if note else ""))
        return 0
    results = leftovers.recover(target.name, target.clients)
    if not results:
        print(f"nothing to recover for {target.name}: every journaled fault was rolled back")
    for result in results:
        print(f"{result.outcome:<12} {result.fault} {json.dumps(result.params)} (entry {result.entry_id[:8]})")
    # What the journal could not put back, or never knew about: the topology against the spec, line by line.
    spec = topology.spec_of(loader.load(args.env), target.stack_tag[1])
    remaining = leftovers.topology(target.clients, spec, target.nameserver)
    for item in remaining:
        print(f"not restored {item.kind} {item.region} {item.resource}: {item.detail}")
    return exitcodes.FAILED if remaining or any(r.outcome.startswith("failed") for r in results) else exitcodes.OK


def scan(args: argparse.Namespace) -> int:
    """List leftover faults from the API alone, journal or not, with drift of the DR topology from the spec and
    orders only a non-writer copy holds. Exit 1 when something is found."""
    from environments import loader
    from faults import leftovers
    from stack import topology

    target, guard = _target(args, "gameday scan")
    regions = list(guard.policy.regions)  # every allowed Region for aws environments, not only the stack's
    found = leftovers.scan(target.clients, regions, target.stack_tag)
    found += leftovers.topology(target.clients, topology.spec_of(loader.load(args.env), target.stack_tag[1]),
                                target.nameserver)
    if args.json:
        print(json.dumps([item.__dict__ for item in found], indent=2))
    elif not found:
        print(f"no leftover faults in {target.name} ({', '.join(regions)})")
    for item in [] if args.json else found:
        print(f"{item.kind:<22} {item.region:<15} {item.resource:<28} {item.detail}")
    return exitcodes.FAILED if found else exitcodes.OK


def verify_pack(args: argparse.Namespace) -> int:
    """Check an evidence pack, its signature (--key) and its chain; exit 4 (TAMPERED) when anything does not hold."""
    from reports import evidence

    pack = Path(args.pack)  # an existing directory: _pack_directory checked it as an argument
    if args.history:
        evidence.require_readable_history(Path(args.history))
    result = evidence.verify(pack, Path(args.history) if args.history else None, Path(args.key) if args.key else None)
    print(result.message)
    return exitcodes.OK if result.ok else exitcodes.TAMPERED


def keygen(args: argparse.Namespace) -> int:
    """Write an Ed25519 key pair for signing evidence packs."""
    from reports import signing

    private, public = Path(args.private_key), Path(args.private_key + ".pub.pem" if args.public_key is None
                                                       else args.public_key)
    fingerprint = signing.keygen(private, public)
    print(f"signing key {private} (mode 0600; keep it secret: {signing.KEY_FILE_VARIABLE}={private} signs packs)")
    print(f"public key  {public} (give it to auditors: gameday verify --key {public} PACK)")
    print(f"fingerprint {fingerprint}")
    return 0


def report(args: argparse.Namespace) -> int:
    """RTO/RPO trends across runs."""
    from reports import history

    if not args.history:
        print("gameday report: use --history (the evidence pack is written at the end of `gameday run`)", file=sys.stderr)
        return exitcodes.USAGE
    path = Path(args.history_file or _HISTORY_FILE)
    # The project's own file may not exist before its first run; a file named on purpose must.
    if args.history_file is not None and not path.exists() and path.resolve() != _HISTORY_FILE.resolve():
        raise history.HistoryError(f"--history-file {path}: no such file; give a history.jsonl that a game day "
                                   f"appended to (default: {_HISTORY_FILE} of the project here)")
    return history.command(path, Path(args.html) if args.html else None, args.last)


_HISTORY_FILE = Path("reports") / "history.jsonl"


# pytest's exit codes (pytest.ExitCode) as gameday's: interrupted, internal error, usage error, no tests.
_PYTEST_EXIT = {2: 130, 3: exitcodes.FAILED, 4: exitcodes.USAGE, 5: exitcodes.USAGE}


def init(args: argparse.Namespace) -> int:
    """Write a new project: one example experiment, its environments, pytest's settings."""
    from gameday import scaffold
    from gameday.plugin import MARKERS

    directory = Path(args.directory)
    written = scaffold.init(directory, MARKERS)
    print(f"gameday init: a new gameday project in {directory}/")
    for path in written:
        print(f"  {path.relative_to(directory)}")
    print(f"next: cd {directory} && gameday run   (the example experiment on the local stack; "
          f"the report goes to {directory}/reports/out/)")
    return exitcodes.OK


def run_gameday(args: argparse.Namespace) -> int:
    """Run the project's game-day experiments with pytest (the stack comes up through the plugin)."""
    from gameday import project as project_

    project = project_.find(Path.cwd())  # outside a project: NotAProject says how to make one
    if project.experiments.is_dir() and not project.experiment_files():
        print(f"gameday: no experiments yet: {project.experiments} holds no test_*.py scenario files. "
              "`gameday init DIR` writes an example into a new directory.")
        return 0
    from environments import loader
    from environments.model import LocalEnvironment
    from stack.local import attach, supervisor
    from stack.local.instance import Instance, instance_from_environ

    loader.load(args.env)  # a bad environment file stops here, before pytest and before any report
    # The game day runs on the user's stack (instance 0 unless chosen), not on the tests' instances.
    number = args.instance if args.instance is not None else instance_from_environ()
    environment = loader.load(args.env)
    if isinstance(environment, LocalEnvironment):
        instance = Instance(number, environment)
        if supervisor.running_pid(instance):
            # Refused here with one message, rather than by every experiment (the fixture refuses too,
            # for a stack the run starts itself or one that degrades during the run).
            attach.require_same_scale(instance, environment)
            supervisor.refuse_if_degraded(instance.aws_endpoint, "the game day")
    # Everything it writes goes into the project: reports/out/ and reports/history.jsonl beside it.
    allure_results = project.out / "allure-results"
    # Without experiments/ (a pytest configuration that mentions gameday), pytest's testpaths decide.
    where = [str(project.experiments)] if project.experiments.is_dir() else []
    command = [sys.executable, "-m", "pytest", *where, "-m", args.marker, "--gameday-env", args.env,
               "--gameday-instance", str(number), "--gameday-evidence-dir", str(project.out),
               "--alluredir", str(allure_results), "--clean-alluredir", "-p", "no:cacheprovider", "-q",
               *(["--gameday-dry-run"] if args.dry_run else []), *(["--gameday-attach"] if args.attach else []),
               *args.pytest_args]
    status = subprocess.call(command, cwd=project.root)
    if status not in (0, 1):  # pytest did not run the scenarios (usage error, no tests, interrupted): no report
        print(f"gameday run: pytest exited with code {status} before any verdict; no report was rendered",
              file=sys.stderr)
        return _PYTEST_EXIT.get(status, exitcodes.FAILED)
    subprocess.call([sys.executable, "-m", "reports.allure_report", str(allure_results), str(project.out / "allure")],
                    cwd=project.root)
    return status


def _pack_directory(value: str) -> str:
    """An evidence pack argument: a missing directory is a usage error, not a tampered pack."""
    if not Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is not a directory; give an evidence pack such as reports/out/<run-id>")
    return value


def _run_id(value: str) -> str:
    if not runid.valid(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a run id: 1-64 letters, digits, '.', '_' or '-', starting "
                                         "with a letter or digit")
    return value


def _run_count(value: str) -> int:
    count = whole_number(value)
    if count is None or count < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not allowed; use a whole number of runs, 1 or more")
    return count


def _instance_number(value: str) -> int:
    number = whole_number(value)
    if number is None or number > 9:
        raise argparse.ArgumentTypeError(f"{value!r} is not allowed; use an integer from 0 to 9")
    return number


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="gameday", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--env", default=os.environ.get("GAMEDAY_ENV", "local"),
                       help="environment: a name in ./environments/ or the bundled ones, or a path to a .yaml "
                            "file (default: $GAMEDAY_ENV or local)")
        p.add_argument("--instance", type=_instance_number, default=None,
                       help="local stack instance 0-9 (default: $GAMEDAY_INSTANCE or 0)")

    stack = commands.add_parser("stack", help="the local stack's lifecycle").add_subparsers(dest="action", required=True)
    up = stack.add_parser("up", help="start the local stack (foreground unless --detach)")
    up.add_argument("--detach", action="store_true", help="start in the background and return once ready")
    up.add_argument("--parts", default="all",
                    help="data planes to start: 'all' (default), 'none' (the AWS API only), or a comma list of "
                         f"{', '.join(map(partnames.part_name, partnames.PARTS))}; a stack without some part reads "
                         "degraded, and experiments and `gameday run` refuse it (for developing the stack itself)")
    common(up)
    up.set_defaults(handler=stack_up)
    build = stack.add_parser("build", help="build the SecureCart reference stack on the running local stack")
    build.add_argument("--copy-back-orphaned-orders", action="store_true",
                       help="when a promoted replica holds orders the writer lacks, copy them to the writer before "
                            "the replica is rebuilt (without it the build names them and changes nothing)")
    build.add_argument("--dry-run", action="store_true",
                       help="print what the build would create per Region, with an hourly cost estimate; create nothing")
    build.add_argument("--attach", action="store_true",
                       help="find the existing stack by its tags (docs/real-aws.md) and print it; build nothing")
    common(build)
    build.set_defaults(handler=stack_build)
    teardown = stack.add_parser("teardown", help="delete exactly what one build created, found by its run tag")
    teardown.add_argument("--run-id", required=True, type=_run_id,
                          help="the build's run id (its gameday:run tag; `gameday stack build` prints it)")
    teardown.add_argument("--stack-name", default="securecart", help="the gameday:stack tag's value (default securecart)")
    teardown.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    common(teardown)
    teardown.set_defaults(handler=stack_teardown)
    down = stack.add_parser("down", help="stop the local stack and remove everything it started")
    common(down)
    down.set_defaults(handler=stack_down)
    status = stack.add_parser("status", help="show the running stack's endpoints and parts")
    status.add_argument("--json", action="store_true", help="print the machine-readable contract")
    common(status)
    status.set_defaults(handler=stack_status)

    site_link = stack.add_parser("site-link", help="cut or restore a site's link (Direct Connect, VPN, service link) "
                                                   "in the running stack's fabric")
    site_link.add_argument("link", help="the link, <site>/<link> as the environment's sites name it (store-nyc/service-link)")
    site_link.add_argument("state", choices=("up", "down"))
    site_link.add_argument("--json", action="store_true", help="print the link's state as JSON")
    common(site_link)
    site_link.set_defaults(handler=stack_site_link)

    dry_run_help = "print what would be done and make no mutating call (also GAMEDAY_DRY_RUN=true)"
    recover_parser = commands.add_parser("recover", help="roll back faults a killed run left (from the journal)")
    recover_parser.add_argument("--dry-run", action="store_true", help=dry_run_help)
    common(recover_parser)
    recover_parser.set_defaults(handler=recover)
    scan_parser = commands.add_parser("scan", help="list leftover faults found through the API")
    scan_parser.add_argument("--json", action="store_true")
    common(scan_parser)
    scan_parser.set_defaults(handler=scan)

    verify_parser = commands.add_parser("verify", help="check an evidence pack and the chain of packs before it")
    verify_parser.add_argument("pack", type=_pack_directory, help="reports/out/<run-id>")
    verify_parser.add_argument("--history", default=None,
                               help="history.jsonl to cross-check (default: reports/history.jsonl beside reports/out)")
    verify_parser.add_argument("--key", default=None,
                               help="public key (PEM) the pack must be signed with; an unsigned pack then fails")
    verify_parser.set_defaults(handler=verify_pack)
    keygen_parser = commands.add_parser("keygen", help="make an Ed25519 key pair for signing evidence packs")
    keygen_parser.add_argument("private_key", help="where the private key goes (PEM, PKCS#8, mode 0600)")
    keygen_parser.add_argument("--public-key", default=None, help="where the public key goes (default: PRIVATE.pub.pem)")
    keygen_parser.set_defaults(handler=keygen)
    report_parser = commands.add_parser("report", help="reports across runs")
    report_parser.add_argument("--history", action="store_true", help="RTO/RPO trends per scenario")
    report_parser.add_argument("--history-file", default=None,
                               help=f"the project's history file (default: {_HISTORY_FILE})")
    report_parser.add_argument("--html", default=None, help="also write the trend charts to this HTML file")
    report_parser.add_argument("--last", type=_run_count, default=20, help="how many of the latest runs (default 20)")
    report_parser.set_defaults(handler=report)

    init_parser = commands.add_parser("init", help="write a new project: an example experiment, environments, "
                                                     "pytest.ini")
    init_parser.add_argument("directory", help="a new or empty directory")
    init_parser.set_defaults(handler=init)

    run = commands.add_parser("run", help="run the project's experiments (./experiments) and write the report "
                                          "into ./reports/out")
    run.add_argument("-m", "--marker", default="gameday", help="pytest marker expression (default: gameday)")
    run.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    run.add_argument("--dry-run", action="store_true", help=dry_run_help)
    run.add_argument("--attach", action="store_true",
                     help="run against the stack that already exists, found by its tags (docs/real-aws.md); build nothing")
    common(run)
    run.set_defaults(handler=run_gameday)
    return top


class _ReaderMayLeave:
    """sys.stdout for a command whose reader may stop reading (`gameday verify PACK | head -1`).

    Once the pipe is closed the rest of the output is discarded and the command carries on, so it still
    exits with the code it decides: a tampered pack or a failed verdict never reads as success.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._discard_from_now_on()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._discard_from_now_on()

    def _discard_from_now_on(self) -> None:
        # What is still buffered, and everything written later, goes to /dev/null instead of failing again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding...: the real stream's
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: see base.exitcodes (docs/cli.md). Routine failures print one line, no traceback."""
    args = parser().parse_args(argv)  # argparse itself exits USAGE (2) on a bad argument
    stdout = sys.stdout
    sys.stdout = _ReaderMayLeave(stdout)
    try:
        return _run(args)
    finally:
        sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe would change the exit code
        sys.stdout = stdout


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args))
    except GamedayError as error:
        print(f"gameday: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        failure = aws_failure(error)
        if failure is None:
            raise  # a bug: its traceback is what a report needs
        print(f"gameday {args.command}: {failure[1]}", file=sys.stderr)
        return failure[0]


if __name__ == "__main__":
    sys.exit(main())
