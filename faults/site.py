"""Site actions: faults on the customer's own network, such as a store's uplink failing.

No AWS API call cuts a store's uplink: it happens on the customer's side. A site action is declared in
the environment (``site_actions``, environments/outposts.py) and runs commands:

- on a real estate, the command the team configures (a script that shuts a router port) and its
  rollback command;
- on the local stack, ``gameday stack site-link <site>/<link> down`` for each of the site's links of
  the kinds the action names, and ``up`` to roll back: a cut of those links in the fabric.

Either way it is a fault like the others: guarded, journaled before the first command (so ``gameday
recover`` runs the rollback commands after a killed run), rolled back in ``finally``. The site is not
an AWS resource, so there is no target to tag: the environment file that declares the action is the
permission to run it.
"""
from __future__ import annotations

import subprocess
import sys
from typing import Any

from base.errors import FaultError
from base.timeline import Timeline
from environments.model import AwsEnvironment, LocalEnvironment
from faults.base import ClientFactory, Fault
from faults.guard import Caller, Guard, Resource
from faults.journal import Entry, Journal
from faults.plan import Call


def local_commands(environment: LocalEnvironment, action: str, instance: int) -> tuple[list[list[str]], list[list[str]]]:
    """(inject, rollback) argv lists that cut and restore the action's links on local stack ``instance``."""
    declared = environment.site_actions[action]
    site = environment.sites[declared.site]
    links = [f"{declared.site}/{name}" for name, link in site.links.items() if link.type in declared.links]

    def command(link_id: str, state: str) -> list[str]:
        return [sys.executable, "-m", "gameday.cli", "stack", "site-link", link_id, state, "--instance", str(instance)]

    return [command(link, "down") for link in links], [command(link, "up") for link in links]


class SiteAction(Fault):
    """Run a site action declared in the environment; its rollback commands afterwards."""

    name = "site.action"

    def __init__(self, clients: ClientFactory, journal: Journal, *, environment: LocalEnvironment | AwsEnvironment,
                 action: str, local_instance: int | None = None, timeline: Timeline | None = None,
                 guard: Guard | None = None) -> None:
        """``local_instance``: the local stack's instance number (a local environment only).

        Raises FaultError naming the action and the declared ones when the environment has no such action."""
        super().__init__(clients, journal, timeline, guard)
        if action not in environment.site_actions:
            raise FaultError(f"site action {action!r} is not declared in the environment's site_actions; "
                             f"declared: {', '.join(sorted(environment.site_actions)) or 'none'}")
        declared = environment.site_actions[action]
        self.action, self.site, self.timeout_s = action, declared.site, declared.timeout_s
        self.link_regions = sorted({link.region for link in environment.sites[declared.site].links.values()})
        if isinstance(environment, LocalEnvironment):
            if local_instance is None:
                raise FaultError(f"site action {action!r}: a local environment needs the local stack's instance number")
            self.commands, self.rollback_commands = local_commands(environment, action, local_instance)
        else:
            self.commands, self.rollback_commands = [list(declared.command)], [list(declared.rollback_command)]

    def params(self) -> dict[str, Any]:
        return {"action": self.action, "site": self.site, "regions": self.link_regions, "commands": self.commands,
                "rollback_commands": self.rollback_commands, "timeout_s": self.timeout_s}

    def regions(self) -> list[str]:
        return list(self.link_regions)

    def discover(self, caller: Caller) -> list[Resource]:
        return []  # the site is the customer's own network, declared in the environment: no AWS resource to tag

    def inject(self, entry: Entry) -> None:
        self.journal.progress(entry, started=True)  # from here a recover runs the rollback commands
        for argv in self.commands:
            if self.planning:
                self._planned(argv)
                continue
            _run(argv, self.timeout_s, f"site action {self.action}")

    def _planned(self, argv: list[str]) -> None:
        calls = getattr(self.clients, "calls", None)
        if isinstance(calls, list):
            calls.append(Call("site", self.site, "command", {"argv": argv}))

    def rollback(self, state: dict[str, Any]) -> None:
        if not state.get("started"):
            return
        failures = []
        for argv in state.get("rollback_commands") or []:
            try:  # every rollback command runs, even after one fails
                _run(list(argv), float(state.get("timeout_s", 60)), f"rolling back site action {state.get('action')}")
            except FaultError as error:
                failures.append(str(error))
        if failures:
            raise FaultError("; ".join(failures))

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        calls = [Call("site", str(state.get("site", "")), "command", {"argv": list(argv)})
                 for argv in state.get("rollback_commands") or []]
        return calls, "runs the site action's rollback commands (not AWS calls)"


def _run(argv: list[str], timeout_s: float, doing: str) -> None:
    """Run one command. Raises FaultError with its exit code and output when it fails or takes too long."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FaultError(f"{doing}: {argv!r} could not run: {error}") from error
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-500:]
        raise FaultError(f"{doing}: {argv!r} exited with {done.returncode}: {output}")
