"""``aws:ssm:send-command`` with FIS's network documents, as fabric toxics on each target instance.

On AWS the SSM agent runs the document on the instance (tc netem, iptables). Locally there is no
agent: the action puts the same effect on every link of the instance's private address through the
fabric's ``Toxics`` service (stack.local.fabric.toxics), for the document's ``DurationSeconds`` (or
the action's ``duration`` when shorter), scaled, and removes it at the end or when the experiment
stops:

- AWSFIS-Run-Network-Latency: ``DelayMilliseconds`` (default 200) on everything the instance sends;
- AWSFIS-Run-Network-Packet-Loss: ``LossPercent`` (default 7) of what it sends, as retransmissions;
- AWSFIS-Run-Network-Blackhole-Port: ``Port`` (required), ``Protocol`` tcp (the fabric carries TCP
  only), ``TrafficType`` ingress (default) or egress.

Network delay is never scaled (as in the fabric). AWSFIS-Run-CPU-Stress is real CPU load beside the
instance's process (cpu.py). Any other document fails the action, naming it.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from stack.local import fiscatalog
from stack.local.fis import cpu
from stack.local.fis.actions import ActionFailed, Run

# Toxics in force per node address, per running action, so two actions on one instance add up.
_ACTIVE: dict[str, dict[str, list[dict[str, Any]]]] = {}
_LOCK = threading.Lock()


def _document(run: Run) -> tuple[str, dict[str, str]]:
    name = run.parameters["documentArn"].rsplit("/", 1)[-1]
    raw = run.parameters.get("documentParameters") or "{}"
    try:
        parameters = json.loads(raw)
    except ValueError:
        raise ActionFailed(f"documentParameters is not a JSON object: {raw!r}") from None
    if not isinstance(parameters, dict):
        raise ActionFailed(f"documentParameters is not a JSON object: {raw!r}")
    return name, {str(k): str(v) for k, v in parameters.items()}


def toxic_of(name: str, parameters: Mapping[str, str]) -> dict[str, Any]:
    """The fabric toxic a document stands for. Raises ActionFailed for a document or value the fabric cannot run."""
    try:
        if name == "AWSFIS-Run-Network-Latency":
            return {"kind": "latency", "delay_ms": float(parameters.get("DelayMilliseconds", "200"))}
        if name == "AWSFIS-Run-Network-Packet-Loss":
            return {"kind": "loss", "loss_percent": float(parameters.get("LossPercent", "7"))}
        if name == "AWSFIS-Run-Network-Blackhole-Port":
            if "Port" not in parameters:
                raise ActionFailed(f"{name} needs the document parameter Port")
            if parameters.get("Protocol", "tcp").lower() != "tcp":
                raise ActionFailed(f"{name}: Protocol {parameters['Protocol']!r} is not emulated locally "
                                   f"(the fabric carries TCP only); use tcp")
            traffic = parameters.get("TrafficType", "ingress").lower()
            if traffic not in ("ingress", "egress"):
                raise ActionFailed(f"{name}: TrafficType {parameters['TrafficType']!r}; allowed: ingress, egress")
            return {"kind": "blackhole", "port": int(parameters["Port"]), "direction": traffic}
    except ValueError as error:
        raise ActionFailed(f"{name}: a document parameter is not a number: {error}") from None
    raise ActionFailed(f"document {name} is not emulated locally; the local stack runs "
                       f"{', '.join(fiscatalog.NETWORK_DOCUMENTS)}")


def _seconds(run: Run, parameters: Mapping[str, str]) -> float:
    """The document's DurationSeconds, or the action's duration when shorter, in wall seconds."""
    seconds = run.duration_wall_s()
    assert seconds is not None
    if "DurationSeconds" in parameters:
        try:
            seconds = min(seconds, run.timescale.to_wall(float(parameters["DurationSeconds"])))
        except ValueError:
            raise ActionFailed(f"DurationSeconds {parameters['DurationSeconds']!r} is not a number") from None
    return seconds


def _push(run: Run, address: str) -> None:
    assert run.toxics is not None
    with _LOCK:
        toxics = [t for action in _ACTIVE.get(address, {}).values() for t in action]
    run.toxics.set_toxics(address, toxics)


def send_command(run: Run) -> None:
    name, parameters = _document(run)
    if name == fiscatalog.CPU_DOCUMENT:
        cpu.stress(run, parameters, _seconds(run, parameters))
        return
    toxic = toxic_of(name, parameters)
    if run.toxics is None:
        raise ActionFailed(f"{name} needs the fabric's toxics; this stack runs without the fabric part")
    seconds = _seconds(run, parameters)
    ids = run.ids("Instances")
    reservations = run.clients("ec2", run.region).describe_instances(InstanceIds=ids)["Reservations"]
    addresses = [i["PrivateIpAddress"] for r in reservations for i in r["Instances"] if i.get("PrivateIpAddress")]
    key = f"{run.experiment_id}/{run.name}"
    applied: list[str] = []
    try:
        for address in addresses:
            with _LOCK:
                _ACTIVE.setdefault(address, {})[key] = [toxic]
            applied.append(address)
            _push(run, address)
        run.applied()
        run.wait(seconds)
    finally:
        for address in applied:
            with _LOCK:
                _ACTIVE.get(address, {}).pop(key, None)
            _push(run, address)
