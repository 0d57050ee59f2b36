"""The least-privilege IAM policies (iam/*.json) list exactly the actions game days need: no more, no less.

Two sources of truth, cross-checked so the policies cannot drift from the code:
- **dynamic**: tests/iam/scenario.py runs every game-day path under moto and records each operation;
- **static**: every boto3 client call in the code (faults/, probes/, gameday/, the builder and the DR topology
  it shares with the runbook steps, `scan` and `recover` (stack/builder.py, stack/topology.py, stack/orders.py),
  and the real-account smoke suite tests/aws/) must be one the scenario exercised, so a new call site cannot
  hide from the dynamic run. A waiter or paginator named by a string handed to a helper
  (``_wait(clients, db, "db_instance_available", ...)``) counts as a call site too.
"""
from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Iterable

import botocore.session
import pytest
from botocore import xform_name

from tests.iam import scenario

ROOT = Path(__file__).resolve().parents[2]
GAMEDAY_POLICY = ROOT / "iam" / "gameday-policy.json"
BUILD_POLICY = ROOT / "iam" / "gameday-build-policy.json"
SCANNED = ["faults/*.py", "probes/*.py", "gameday/*.py", "stack/builder.py", "stack/topology.py", "stack/orders.py",
           "stack/ami.py", "stack/plan.py", "stack/discovery.py", "stack/teardown.py", "stack/cdn.py", "tests/aws/*.py"]
# Signing an evidence pack with a KMS key is the auditor's choice, not a game-day call: its kms:GetPublicKey and
# kms:Sign go on the signing key's own policy (docs/evidence.md), so the evidence plugin is not scanned here.
NOT_SCANNED = {"gameday/evidence_plugin.py"}
READ_ONLY = re.compile(r"^[a-z0-9-]+:(Describe|Get|List|BatchGet)[A-Z]")
IAM_PREFIX = {"cloudwatch": "cloudwatch"}  # botocore service name -> IAM prefix, where they differ
# Operations whose IAM action has another name (the Service Authorization Reference's S3 and CloudFront tables).
IAM_ACTION = {("s3", "ListObjectsV2"): "ListBucket", ("s3", "ListBuckets"): "ListAllMyBuckets",
              ("s3", "DeleteObjects"): "DeleteObject", ("cloudfront", "CreateDistributionWithTags"): "CreateDistribution"}


def _iam(service: str, operation: str) -> str:
    return f"{IAM_PREFIX.get(service, service)}:{IAM_ACTION.get((service, operation), operation)}"


def required_actions(calls: Iterable[tuple[str, str, dict[str, Any]]]) -> set[str]:
    """IAM actions for these calls, including what AWS authorizes separately: tags on create, passing a role."""
    actions = set()
    for service, operation, params in calls:
        actions.add(_iam(service, operation))
        if service == "ec2" and params.get("TagSpecifications"):
            actions.add("ec2:CreateTags")
        if service == "rds" and operation.startswith("Create") and params.get("Tags"):
            actions.add("rds:AddTagsToResource")
        if service == "secretsmanager" and operation == "CreateSecret" and params.get("Tags"):
            actions.add("secretsmanager:TagResource")
        if service == "fis" and params.get("tags"):
            actions.add("fis:TagResource")
        if service == "fis" and operation == "CreateExperimentTemplate":
            actions.add("iam:PassRole")
        if service == "cloudfront" and operation == "CreateDistributionWithTags":
            actions.add("cloudfront:TagResource")
    return actions


def statements(path: Path) -> dict[str, list[str]]:
    document = json.loads(path.read_text())
    assert document["Version"] == "2012-10-17"
    found = {}
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow", f"{path.name} {statement['Sid']}: only Allow statements"
        actions = statement["Action"]
        assert isinstance(actions, list) and actions == sorted(actions), f"{path.name} {statement['Sid']}: a sorted list"
        assert not [a for a in actions if "*" in a], f"{path.name} {statement['Sid']}: no wildcard actions"
        assert len(set(actions)) == len(actions), f"{path.name} {statement['Sid']}: duplicates"
        found[statement["Sid"]] = actions
    return found


def test_the_gameday_policy_is_exactly_what_game_days_call(recording: scenario.Recording) -> None:
    needed = required_actions(recording.of("gameday"))
    granted = statements(GAMEDAY_POLICY)
    listed = {action for actions in granted.values() for action in actions}
    assert sorted(needed - listed) == [], "the code calls these, and iam/gameday-policy.json does not allow them"
    assert sorted(listed - needed) == [], "iam/gameday-policy.json allows these, and no game-day path calls them"


def test_the_build_policy_adds_exactly_what_building_needs(recording: scenario.Recording) -> None:
    building = recording.of("build") + recording.of("rebuild") + recording.of("converge") + recording.of("teardown")
    needed = required_actions(building) - required_actions(recording.of("gameday"))
    listed = {action for actions in statements(BUILD_POLICY).values() for action in actions}
    assert sorted(needed - listed) == [], "the builder calls these, and iam/gameday-build-policy.json does not allow them"
    assert sorted(listed - needed) == [], "iam/gameday-build-policy.json allows these, and the builder does not call them"


@pytest.mark.parametrize("path", [GAMEDAY_POLICY, BUILD_POLICY], ids=lambda p: p.name)
def test_read_only_and_changing_actions_are_separate_statements(path: Path) -> None:
    for sid, actions in statements(path).items():
        if sid.endswith("ReadOnly"):
            assert [a for a in actions if not READ_ONLY.match(a)] == [], f"{sid} must only read"
        else:
            assert [a for a in actions if READ_ONLY.match(a)] == [], f"{sid} must hold no read-only action"


def test_the_fis_role_can_only_be_passed_to_fis() -> None:
    document = json.loads(GAMEDAY_POLICY.read_text())
    [statement] = [s for s in document["Statement"] if "iam:PassRole" in s["Action"]]
    assert statement["Resource"] == "arn:aws:iam::*:role/gameday-fis"
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "fis.amazonaws.com"}}


# -- static: every boto3 call site in the code is covered by the scenario ---------------------------


@cache
def _service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def _methods(service: str) -> dict[str, str]:
    """python method name -> operation name, for one service."""
    return {xform_name(op): op for op in _service_model(service).operation_names}


def _waiter_operations(service: str) -> dict[str, str]:
    try:
        model = botocore.session.get_session().get_waiter_model(service)
    except Exception:
        return {}
    return {xform_name(name): model.get_waiter(name).operation for name in model.waiter_names}


def call_sites() -> tuple[set[str], list[tuple[str, int, str]]]:
    """(services named in clients("...") calls, [(file, line, python method)] of client calls)."""
    trees = [(path, ast.parse(path.read_text())) for pattern in SCANNED for path in sorted(ROOT.glob(pattern))
             if str(path.relative_to(ROOT)) not in NOT_SCANNED]
    services = set()
    for _, tree in trees:
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                    and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) in ("clients", "client")):
                services.add(node.args[0].value)
    methods = {name for service in services for name in _methods(service)}
    waiters = {name: xform_name(op) for service in services for name, op in _waiter_operations(service).items()}
    sites = []
    for path, tree in trees:
        # A function of an imported module (dns_probe.query) is not a client's method, whatever its name.
        modules = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
                   if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if isinstance(node.func.value, ast.Name) and node.func.value.id in modules:
                continue
            name, where = node.func.attr, str(path.relative_to(ROOT))
            first = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
            if name == "get_paginator" and isinstance(first, str):
                sites.append((where, node.lineno, first))
            elif name == "get_waiter" and isinstance(first, str):
                sites.append((where, node.lineno, waiters[first]))
            elif name in methods:
                sites.append((where, node.lineno, name))
        # Names handed to a helper that makes the call (a waiter or a paginated operation passed as a string).
        for node in ast.walk(tree):
            # (argparse's add_parser names a command: "scan" is gameday's, not DynamoDB's Scan.)
            if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Attribute)
                                                   and node.func.attr in ("get_paginator", "get_waiter", "add_parser")):
                for arg in [*node.args, *(keyword.value for keyword in node.keywords)]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        if arg.value in waiters:
                            sites.append((str(path.relative_to(ROOT)), node.lineno, waiters[arg.value]))
                        elif arg.value in methods:
                            sites.append((str(path.relative_to(ROOT)), node.lineno, arg.value))
    return services, sites


def test_every_call_site_is_exercised_by_the_scenario(recording: scenario.Recording) -> None:
    recorded_services = {service for _, service, _, _ in recording.calls}
    recorded = {xform_name(operation) for _, _, operation, _ in recording.calls}
    services, sites = call_sites()
    assert sorted(services - recorded_services) == [], "the code uses these services; the scenario never calls them"
    missing = [f"{where}:{line} {method}" for where, line, method in sites if method not in recorded]
    assert missing == [], ("these boto3 calls are not exercised by tests/iam/scenario.py, so the IAM policy test "
                           "cannot vouch for them; add the path to the scenario")
    assert len(sites) > 40, "the static scan found too few call sites; is SCANNED still right?"


def test_waiter_and_paginator_names_handed_to_helpers_are_constants() -> None:
    """A waiter or paginator named by a variable is visible to the scan only when every caller of its helper
    passes the name as a string constant; a name computed at run time would hide the call it makes.
    Such helpers are private to their module (a leading underscore), so their callers are all in it."""
    checked = 0
    for path in [path for pattern in SCANNED for path in sorted(ROOT.glob(pattern))
             if str(path.relative_to(ROOT)) not in NOT_SCANNED]:
        tree, where = ast.parse(path.read_text()), str(path.relative_to(ROOT))
        helpers: dict[str, tuple[str, int]] = {}  # function name -> (parameter, its position among the arguments)
        for function in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            parameters = [a.arg for a in function.args.args]
            for node in ast.walk(function):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ("get_paginator", "get_waiter") and node.args
                        and not isinstance(node.args[0], ast.Constant)):
                    name = node.args[0]
                    assert isinstance(name, ast.Name) and name.id in parameters and function.name.startswith("_"), (
                        f"{where}:{node.lineno}: {node.func.attr}({ast.unparse(name)}) must take the name from a "
                        "parameter of a private helper whose callers pass it as a string constant")
                    offset = 1 if parameters[0] == "self" else 0
                    helpers[function.name] = (name.id, parameters.index(name.id) - offset)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            called = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if called not in helpers:
                continue
            parameter, position = helpers[called]
            given = next((k.value for k in node.keywords if k.arg == parameter), None) or (
                node.args[position] if len(node.args) > position else None)
            assert isinstance(given, ast.Constant) and isinstance(given.value, str), (
                f"{where}:{node.lineno}: {called}() gets {parameter} as "
                f"{ast.unparse(given) if given else 'nothing'}, not a string constant the scan can read")
            checked += 1
    assert checked >= 3, "too few calls of waiter and paginator helpers found; is SCANNED still right?"
