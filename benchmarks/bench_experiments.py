"""Experiments: how long `pytest -m failover` takes, and how exactly the harness measures an RTO.

Prints one JSON object.

- **suite**: the wall time of `pytest experiments -m failover` as CI runs it, from a cold start (the
  session starts its local stack, builds SecureCart, runs the failover experiments and stops the stack):
  serially on instance 6 (goal <= 75 s), and with `-n 2` (goal: >= 1.6x faster than serial), where
  gameday.fixtures gives xdist worker gwN instance N+1. Those are instances 1 and 2: the `-n 2` run is
  skipped (with the reason) when either is already running, because its session would attach to someone
  else's stack and inject faults there. Both runs share one pytest cache: the serial run records each
  experiment's duration and the `-n 2` run starts the longest first (gameday.ordering), as a user's runs
  after their first would.
- **rto_accuracy**: the fabric cuts one checkout instance off for a known time D (its subnet's NACL
  association is replaced by a deny-all NACL through boto3, then restored), while a probes.sampler
  checkout sampler polls that instance directly, from a vantage point, at the harness's sample interval.
  probes.slo.rto over those samples ends at the first sample of the stretch that stays good for the
  stability window; the ground truth is the restore, D after the cut. Error = measured RTO - D, over
  ``--trials`` trials with D spread over 1-3 s and the cut at a random phase of the sampling. Goal: every
  |error| within 1 sample interval. The probe is the harness's own (probes.checkout.Client with
  experiments.scenario.probe_timeouts: a new connection per request, connect timeout half an interval,
  read timeout max(1 s, 20 AWS-s)); ``--read-timeout`` measures other read timeouts as well. With
  root and nftables a cut drops new connections' SYNs, so a probe during the cut fails within the
  connect timeout; "fabric_path" says whether that path was in use (without it a cut shows as a
  stalled read, and a cut shorter than the read timeout as slow answers). "missed_outages" counts
  trials with no failed sample; "error_if_samples_were_dated_at_completion" shows the same samples
  dated when their answer arrived.
  Runs on local stack instance 6 (or $GAMEDAY_INSTANCE, or --instance), started with `gameday stack up --detach` and stopped at the end
  (left running if it was already up).

Bounded: each pytest run has a timeout (--suite-timeout), each trial a deadline. About 5-6 minutes in
all; `--only suite` or `--only rto` runs one part.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from environments import loader  # noqa: E402
from environments.model import LocalEnvironment  # noqa: E402
from faults.network import association_of  # noqa: E402
from experiments.scenario import SAMPLE_INTERVAL_AWS_S, probe_timeouts  # noqa: E402
from base import clock, net  # noqa: E402
from base.retries import retries  # noqa: E402
from base.timescale import TimeScale  # noqa: E402
from probes import checkout as checkout_probe, slo  # noqa: E402
from probes.sampler import Sample  # noqa: E402
from stack.builder import BuildOptions, Builder  # noqa: E402
from stack.handles import InstanceHandle, ReferenceStack  # noqa: E402
from stack.local import attach, supervisor  # noqa: E402
from stack.local.fabric import firewall  # noqa: E402
from stack.local.instance import Instance  # noqa: E402
from stack.local.part import LOCAL_CREDENTIALS  # noqa: E402

SERIAL_GOAL_S = 75.0
SPEEDUP_GOAL = 1.6  # `-n 2` over serial
ERROR_GOAL_INTERVALS = 1.0
PARALLEL_INSTANCES = (1, 2)  # gameday.fixtures.default_instance() for gw0 and gw1
GAMEDAY = str(ROOT / ".venv" / "bin" / "gameday")


# -- (a) the failover suite ----------------------------------------------------------------------


def _running(numbers: tuple[int, ...], environment: LocalEnvironment) -> list[int]:
    return [n for n in numbers if supervisor.running_pid(Instance(n, environment)) is not None]


def run_suite(extra: list[str], env_overrides: dict[str, str], timeout_s: float, cache_dir: Path) -> dict[str, Any]:
    """One `pytest experiments -m failover` in a subprocess; its wall time and per-experiment times.

    ``cache_dir`` is pytest's cache for the run: the serial run records each experiment's duration there and
    the `-n 2` run after it starts the longest first (gameday.ordering), as a user's second run would.
    """
    with tempfile.TemporaryDirectory(prefix="gameday-bench-suite-") as scratch:
        junit = Path(scratch) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "experiments", "-m", "failover", "-q", "-o", f"cache_dir={cache_dir}",
                   "--junitxml", str(junit), "--gameday-evidence-dir", str(Path(scratch) / "evidence"), *extra]
        environ = {k: v for k, v in os.environ.items()
                   if k not in ("GAMEDAY_INSTANCE", "GAMEDAY_RUN_ID", "PYTEST_XDIST_WORKER")} | env_overrides
        started = time.monotonic()
        try:
            done = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"command": " ".join(command[2:]), "wall_s": None, "error": f"timed out after {timeout_s:.0f} s"}
        wall_s = time.monotonic() - started
        tests: dict[str, float] = {}  # junit times; the first experiment's include the session's stack up and build
        outcomes = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
        if junit.exists():
            for case in ElementTree.parse(junit).getroot().iter("testcase"):
                tests[case.get("name", "?")] = round(float(case.get("time", 0)), 1)
                kinds = {child.tag for child in case}
                key = ("failed" if "failure" in kinds else "errors" if "error" in kinds
                       else "skipped" if "skipped" in kinds else "passed")
                outcomes[key] += 1
        result: dict[str, Any] = {"command": " ".join(command[2:]), "wall_s": round(wall_s, 1),
                                  "exit_code": done.returncode, "outcomes": outcomes, "experiments_s": tests}
        if done.returncode != 0:
            result["output_tail"] = (done.stdout + done.stderr)[-1500:]
        return result


def suite(environment: LocalEnvironment, instance: int, timeout_s: float, parallel: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gameday-bench-cache-") as cache_dir:
        return _suite(environment, instance, timeout_s, parallel, Path(cache_dir))


def _suite(environment: LocalEnvironment, instance: int, timeout_s: float, parallel: bool,
           cache_dir: Path) -> dict[str, Any]:
    busy = _running((instance,), environment)
    serial = ({"skipped": f"instance {instance} is already running; a cold-start measurement needs it stopped"}
              if busy else run_suite(["--gameday-instance", str(instance)], {}, timeout_s, cache_dir))
    if not parallel:
        parallel_result: dict[str, Any] = {"skipped": "not requested (--no-parallel)"}
    elif busy := _running(PARALLEL_INSTANCES, environment):
        parallel_result = {"skipped": f"local stack instance(s) {busy} already running (another engineer or run); "
                                      f"`-n 2` uses instances {list(PARALLEL_INSTANCES)} (one per xdist worker) "
                                      "and would inject faults into them"}
    else:
        parallel_result = run_suite(["-n", "2"], {}, timeout_s, cache_dir)
    serial_wall = serial.get("wall_s")
    speedup = (round(serial_wall / parallel_result["wall_s"], 2)
               if serial_wall and parallel_result.get("wall_s") else None)
    # A run that failed is quicker for what it skipped: its time meets no goal.
    serial_passed, parallel_passed = serial.get("exit_code") == 0, parallel_result.get("exit_code") == 0
    return {"serial": serial, "parallel_n2": parallel_result,
            "goal_serial_s": SERIAL_GOAL_S,
            "serial_meets_goal": None if serial_wall is None else serial_passed and serial_wall <= SERIAL_GOAL_S,
            "speedup_n2": speedup, "goal_speedup_n2": SPEEDUP_GOAL,
            "speedup_meets_goal": (None if speedup is None
                                   else serial_passed and parallel_passed and speedup >= SPEEDUP_GOAL)}


# -- (b) RTO accuracy ----------------------------------------------------------------------------


class FixedAddress:
    """A resolver stand-in: the sampler polls one instance directly, not whatever DNS hands out."""

    def __init__(self, name: str, address: str) -> None:
        self.name, self._address = name, address

    def address(self) -> str:
        return self._address


def _deny_all(ec2: Any, vpc_id: str) -> str:
    acl = ec2.create_network_acl(VpcId=vpc_id, TagSpecifications=[{"ResourceType": "network-acl", "Tags": [
        {"Key": "Name", "Value": "gameday-bench-rto-deny-all"}]}])["NetworkAcl"]["NetworkAclId"]
    for egress in (False, True):
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="deny",
                                     Egress=egress, CidrBlock="0.0.0.0/0")
    return acl


def trial(ec2: Any, target: InstanceHandle, deny_acl: str, client: checkout_probe.Client, cut_s: float,
          interval_s: float, window_aws_s: float, scale: TimeScale, rng: random.Random) -> dict[str, Any]:
    """Cut ``target``'s subnet off for ``cut_s`` while sampling it; RTO from the samples against the truth."""
    sampler = checkout_probe.sampler(client, "bench", interval_s, path="/health")
    sampler.start()
    original_acl, association = association_of(ec2, target.subnet_id)
    restored = True
    try:
        _await(lambda: sum(s.ok for s in sampler.samples) >= 3, "three good samples before the cut", 10)
        time.sleep(rng.uniform(0, interval_s))  # cut at a random phase of the sampling
        association = ec2.replace_network_acl_association(AssociationId=association,
                                                          NetworkAclId=deny_acl)["NewAssociationId"]
        restored = False
        cut_at = clock.now()  # as the harness does: RTO starts when the fault's API call returned
        time.sleep(cut_s)  # the known duration of the outage (the ground truth)
        association = ec2.replace_network_acl_association(AssociationId=association,
                                                          NetworkAclId=original_acl)["NewAssociationId"]
        restored = True
        restored_at = clock.now()
        window_wall_s = scale.to_wall(window_aws_s)

        def stable() -> bool:
            # Sampled a whole window past the restore, and the last good stretch is as long as the window.
            samples = sampler.settled()
            return (bool(samples) and samples[-1].at.monotonic_s >= restored_at.monotonic_s + window_wall_s
                    and slo.rto(samples, cut_at, window_aws_s, scale).wall_s is not None
                    and slo.rto([_completed(s) for s in samples], cut_at, window_aws_s, scale).wall_s is not None)

        _await(stable, "a good stretch as long as the stability window after the restore", cut_s + window_wall_s + 15)
    finally:
        if not restored:
            ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=original_acl)
        samples = sampler.stop()
    measured = slo.rto(samples, cut_at, window_aws_s, scale)
    # The same definition with each sample dated when its answer arrived instead of when it was sent.
    by_completion = slo.rto([_completed(s) for s in samples], cut_at, window_aws_s, scale)
    truth_s = restored_at.monotonic_s - cut_at.monotonic_s
    outage = measured.outages[0] if measured.outages else None
    assert measured.wall_s is not None and by_completion.wall_s is not None
    return {"cut_s": round(truth_s, 3), "rto_s": round(measured.wall_s, 3),
            "error_s": round(measured.wall_s - truth_s, 3),
            "error_by_completion_s": round(by_completion.wall_s - truth_s, 3),
            "first_failed_after_cut_s": None if outage is None else round(outage.started.monotonic_s - cut_at.monotonic_s, 3),
            "failed_samples": 0 if outage is None else outage.failed_samples,
            "samples": len([s for s in samples if s.at.monotonic_s >= cut_at.monotonic_s]),
            "longest_sample_ms": round(max(s.duration_ms for s in samples), 1),
            "late_good_samples": _late_good(samples, cut_at, restored_at)}


def _completed(sample: Sample[Any]) -> Sample[Any]:
    seconds = sample.duration_ms / 1000
    return Sample(clock.Instant(sample.at.monotonic_s + seconds, sample.at.wall_time + seconds), sample.source,
                  sample.ok, sample.value, sample.error, sample.duration_ms)


def _late_good(samples: list[Sample[Any]], cut_at: clock.Instant, restored_at: clock.Instant) -> int:
    """Good samples that started during the cut (their request got through after the restore)."""
    return sum(1 for s in samples if s.ok and cut_at.monotonic_s <= s.at.monotonic_s < restored_at.monotonic_s)


def _await(condition: Any, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")


def _distribution(errors: list[float], interval_s: float) -> dict[str, Any]:
    ordered = sorted(errors)
    absolute = sorted(abs(e) for e in errors)
    return {"n": len(errors), "mean_s": round(statistics.fmean(errors), 3), "median_s": round(statistics.median(errors), 3),
            "min_s": round(ordered[0], 3), "max_s": round(ordered[-1], 3),
            "stdev_s": round(statistics.stdev(errors), 3) if len(errors) > 1 else 0.0,
            "p95_abs_s": round(absolute[min(len(absolute) - 1, int(0.95 * len(absolute)))], 3),
            "max_abs_intervals": round(absolute[-1] / interval_s, 2),
            "within_goal": sum(1 for e in absolute if e <= ERROR_GOAL_INTERVALS * interval_s)}


def rto_accuracy(environment: LocalEnvironment, number: int, trials: int, read_timeouts: list[float]) -> dict[str, Any]:
    instance = Instance(number, environment)
    resolved = instance.resolved()
    started_here = supervisor.running_pid(instance) is None
    if started_here:
        subprocess.run([GAMEDAY, "stack", "up", "--detach"], cwd=ROOT, check=True, capture_output=True, timeout=120,
                       env={**os.environ, "GAMEDAY_INSTANCE": str(number)})
    else:  # the figures assume the environment's scale
        attach.require_same_scale(instance, environment)
    try:
        session = boto3.session.Session(region_name=next(iter(resolved.regions)), **LOCAL_CREDENTIALS)

        @functools.cache
        def client(service: str, region: str) -> Any:
            return session.client(service, region_name=region, endpoint_url=instance.aws_endpoint,
                                  config=Config(retries=retries(4)))

        built = time.monotonic()
        stack: ReferenceStack = Builder(resolved, client, BuildOptions(wait_delay_s=0.25, wait_attempts=480)).build()
        build_s = time.monotonic() - built
        assert stack.database is not None
        # A checkout instance away from the database, so the cut cannot start an RDS failover; polled from the
        # vantage point nearest to it, so the network's own delay stays small against the interval.
        target = next(i for i in stack.instances if i.region != stack.database.region)
        vantage_name, vantage = min(resolved.vantage_points.items(), key=lambda item: item[1].rtt_ms[target.region])
        ec2 = client("ec2", target.region)
        subnet = next(s for s in stack.subnets if s.subnet_id == target.subnet_id)
        deny_acl = _deny_all(ec2, subnet.vpc_id)
        scale = resolved.timescale
        interval_s = scale.to_wall(SAMPLE_INTERVAL_AWS_S)
        window_aws_s = resolved.slos.stability_window_s
        rng = random.Random(20261128)
        runs = []
        try:
            connect_timeout_s = probe_timeouts(scale)[0]
            for read_timeout_s in read_timeouts:
                client_ = checkout_probe.Client(FixedAddress(stack.names.checkout, target.private_ip), target.port,
                                                net.vantage_address(vantage.subnet), connect_timeout_s, read_timeout_s)
                results = [trial(ec2, target, deny_acl, client_, 1.0 + 2.0 * k / max(1, trials - 1), interval_s,
                                 window_aws_s, scale, rng) for k in range(trials)]
                client_.close()
                errors = [r["error_s"] for r in results]
                by_completion = [r["error_by_completion_s"] for r in results]
                runs.append({"connect_timeout_s": connect_timeout_s, "read_timeout_s": read_timeout_s,
                             "error": _distribution(errors, interval_s),
                             "meets_goal": all(abs(e) <= ERROR_GOAL_INTERVALS * interval_s for e in errors),
                             "missed_outages": sum(1 for r in results if r["failed_samples"] == 0),
                             "error_if_samples_were_dated_at_completion": _distribution(by_completion, interval_s),
                             "trials": results})
        finally:
            ec2.delete_network_acl(NetworkAclId=deny_acl)
        return {"instance": number, "fabric_path": firewall.available() or "kernel (nftables drops cut SYNs)",
                "build_s": round(build_s, 1), "target": f"{target.instance_id} {target.private_ip} "
                f"({target.availability_zone})", "vantage_point": vantage_name, "path": "/health",
                "sample_interval_s": interval_s, "stability_window_s": scale.to_wall(window_aws_s),
                "goal_abs_error_s": ERROR_GOAL_INTERVALS * interval_s, "runs": runs}
    finally:
        if started_here:
            subprocess.run([GAMEDAY, "stack", "down"], cwd=ROOT, capture_output=True, timeout=120,
                           env={**os.environ, "GAMEDAY_INSTANCE": str(number)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("suite", "rto"), help="run one part")
    parser.add_argument("--instance", type=int, default=int(os.environ.get("GAMEDAY_INSTANCE", "6")),
                        help="local stack instance for the serial suite and RTO (default $GAMEDAY_INSTANCE, else 6)")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--suite-timeout", type=float, default=600.0, help="seconds per pytest run")
    parser.add_argument("--no-parallel", action="store_true", help="skip the `-n 2` suite run")
    parser.add_argument("--read-timeout", type=float, action="append",
                        help="probe read timeout(s) in s to measure (default: the harness's)")
    args = parser.parse_args()
    environment = loader.load("local")
    assert isinstance(environment, LocalEnvironment)
    harness_read_timeout_s = probe_timeouts(environment.timescale)[1]
    read_timeouts = args.read_timeout or [harness_read_timeout_s]
    started = time.monotonic()
    report: dict[str, Any] = {"benchmark": "experiments", "time_scale": environment.time_scale}
    # A part that fails is reported as such; the other part's figures still print.
    if args.only in (None, "suite"):
        try:
            report["suite"] = suite(environment, args.instance, args.suite_timeout, not args.no_parallel)
        except Exception as error:
            report["suite"] = {"error": f"{type(error).__name__}: {error}"}
    if args.only in (None, "rto"):
        try:
            report["rto_accuracy"] = rto_accuracy(environment, args.instance, args.trials, read_timeouts)
            report["rto_accuracy"]["harness_read_timeout_s"] = harness_read_timeout_s
        except Exception as error:
            report["rto_accuracy"] = {"error": f"{type(error).__name__}: {error}"}
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
