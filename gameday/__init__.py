"""gameday: chaos testing and DR verification for multi-region AWS architectures.

The public experiment API (docs/experiments-api.md): ``from gameday import Scenario, RebootWithFailover``.
Names are imported on first use, so ``import gameday`` (and the ``gameday`` command) stays light.
"""
from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it; these paths are stable too.
_EXPORTS = {
    # the harness
    "Scenario": "experiments.scenario",
    "ProbeOrigin": "experiments.scenario",
    # faults: each is a context manager that injects on entry and rolls back on exit
    "Fault": "faults.base",
    "FailHealthCheck": "faults.route53",
    "RebootWithFailover": "faults.rds",
    "PromoteReplica": "faults.rds",
    "StopInstances": "faults.ec2",
    "IsolateAz": "faults.network",
    "IsolateRegion": "faults.network",
    # probes and the verdict
    "Sample": "probes.sampler",
    "Verdict": "probes.slo",
    "db_state": "probes.state",
    "db_events": "probes.state",
    "dns_query": "probes.dns",
    # the environment model
    "LocalEnvironment": "environments.model",
    "AwsEnvironment": "environments.model",
}
_RENAMED = {"dns_query": "query"}

__all__ = [
    "AwsEnvironment", "FailHealthCheck", "Fault", "IsolateAz", "IsolateRegion", "LocalEnvironment", "ProbeOrigin",
    "PromoteReplica", "RebootWithFailover", "Sample", "Scenario", "StopInstances", "Verdict", "db_events", "db_state",
    "dns_query",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gameday' has no attribute {name!r}; the public API: {', '.join(__all__)}")
    value = getattr(importlib.import_module(_EXPORTS[name]), _RENAMED.get(name, name))
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
