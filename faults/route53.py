"""Route 53 faults."""
from __future__ import annotations

from typing import Any

from faults import resources
from faults.base import ClientFactory, Fault
from base.errors import FaultError
from faults.guard import Caller, Guard, Resource
from faults.journal import Entry, Journal
from faults.plan import Call
from base.timeline import Timeline

GLOBAL_REGION = "us-east-1"  # Route 53 is global; its API lives in us-east-1


class FailHealthCheck(Fault):
    """Force a health check unhealthy the documented way: set Inverted.

    HealthCheckVersion makes both directions safe against a concurrent edit: the injection only
    applies to the version it read, and the rollback only to the version the injection produced,
    so someone else's change is never silently overwritten (the rollback fails loudly instead).
    """

    name = "route53.fail_health_check"

    def __init__(self, clients: ClientFactory, journal: Journal, *, health_check_id: str,
                 timeline: Timeline | None = None, guard: Guard | None = None) -> None:
        super().__init__(clients, journal, timeline, guard)
        self.health_check_id = health_check_id

    def params(self) -> dict[str, Any]:
        return {"health_check_id": self.health_check_id}

    def regions(self) -> list[str]:
        return [""]  # Route 53 is global: no Region to allow, the account is still checked

    def discover(self, caller: Caller) -> list[Resource]:
        return [resources.health_check(self.clients("route53", GLOBAL_REGION), self.health_check_id, caller)]

    def inject(self, entry: Entry) -> None:
        route53 = self.clients("route53", GLOBAL_REGION)
        check = route53.get_health_check(HealthCheckId=self.health_check_id)["HealthCheck"]
        was_inverted = bool(check["HealthCheckConfig"].get("Inverted"))
        version = int(check["HealthCheckVersion"])
        self.journal.progress(entry, was_inverted=was_inverted, version_before=version)
        updated = route53.update_health_check(HealthCheckId=self.health_check_id, HealthCheckVersion=version,
                                              Inverted=not was_inverted)
        self.journal.progress(entry, version_after=updated["HealthCheck"]["HealthCheckVersion"])

    def rollback(self, state: dict[str, Any]) -> None:
        if "version_before" not in state:
            return
        route53 = self.clients("route53", GLOBAL_REGION)
        check = route53.get_health_check(HealthCheckId=state["health_check_id"])["HealthCheck"]
        if bool(check["HealthCheckConfig"].get("Inverted")) == state["was_inverted"]:
            return  # already as it was
        expected = state.get("version_after")
        if expected is not None and int(check["HealthCheckVersion"]) != expected:
            raise FaultError(f"{self.name}: health check {state['health_check_id']} was changed by someone else "
                             f"(version {check['HealthCheckVersion']}, expected {expected}); not overwriting it. "
                             f"Set Inverted={state['was_inverted']} by hand once you have checked the change")
        route53.update_health_check(HealthCheckId=state["health_check_id"],
                                    HealthCheckVersion=int(check["HealthCheckVersion"]), Inverted=state["was_inverted"])

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        return ([Call("route53", GLOBAL_REGION, "UpdateHealthCheck",
                      {"HealthCheckId": state["health_check_id"], "HealthCheckVersion": state.get("version_after"),
                       "Inverted": state.get("was_inverted")})],
                "re-reads the check first (GetHealthCheck) and refuses if someone else changed it meanwhile")
