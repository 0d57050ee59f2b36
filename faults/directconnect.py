"""Direct Connect faults: take a private virtual interface's BGP sessions down, as AWS FIS does it.

FIS's ``aws:directconnect:virtual-interface-disconnect`` brings the target VIFs' BGP sessions down for
its duration, the way Direct Connect's own failover test does. ``DisconnectVif`` runs that test through
the API (``injector: api``: ``StartBgpFailoverTest``, rolled back with ``StopBgpFailoverTest``), or the
FIS action itself (``injector: fis``; FIS takes 10 minutes at least). The test's duration is the FIS
settings' ``max_duration_s`` rounded up to whole minutes: a dead man's switch if gameday dies and no
one runs ``gameday recover``. The on-premises side then routes over whatever backup it has (a VPN)
once BGP notices: the hold time, or BFD's detection time.
"""
from __future__ import annotations

import math
from typing import Any

from botocore.exceptions import ClientError

from faults import fis
from faults.base import ClientFactory, Fault
from faults.guard import Caller, Guard, Resource
from faults.journal import Entry, Journal
from faults.plan import Call
from base.timeline import Timeline

DISCONNECT_VIF = "aws:directconnect:virtual-interface-disconnect"
MAX_TEST_MINUTES = 4320  # StartBgpFailoverTest's testDurationInMinutes: 1 to 4320
FIS_MIN_MINUTES = 10  # the FIS action's duration: 10 minutes to 12 hours


def disconnect_vif_action(vif_arns: list[str], duration_s: int) -> fis.Action:
    return fis.Action("disconnect", DISCONNECT_VIF, "DXVirtualInterfaces", "aws:directconnect:virtual-interface",
                      tuple(vif_arns), {"duration": f"PT{max(FIS_MIN_MINUTES, round(duration_s / 60))}M"})


class DisconnectVif(Fault):
    """Bring the BGP sessions of one Direct Connect private virtual interface down."""

    name = "directconnect.disconnect_vif"
    fis_capable = True

    def __init__(self, clients: ClientFactory, journal: Journal, *, region: str, virtual_interface_id: str,
                 timeline: Timeline | None = None, guard: Guard | None = None) -> None:
        super().__init__(clients, journal, timeline, guard)
        self.region, self.virtual_interface_id = region, virtual_interface_id

    def params(self) -> dict[str, Any]:
        return {"region": self.region, "virtual_interface_id": self.virtual_interface_id}

    def discover(self, caller: Caller) -> list[Resource]:
        dx = self.clients("directconnect", self.region)
        [vif] = dx.describe_virtual_interfaces(virtualInterfaceId=self.virtual_interface_id)["virtualInterfaces"]
        arn = f"arn:{caller.partition}:directconnect:{self.region}:{vif['ownerAccount']}:dxvif/{self.virtual_interface_id}"
        return [Resource(arn, self.virtual_interface_id, self.region,
                         {t["key"]: t.get("value", "") for t in vif.get("tags") or ()})]

    def inject(self, entry: Entry) -> None:
        max_duration_s = fis.settings_of(self).max_duration_s
        if self.injector == "fis":
            fis.inject(self, self.region, disconnect_vif_action(self.targets(), max_duration_s))
            return
        minutes = min(MAX_TEST_MINUTES, max(1, math.ceil(max_duration_s / 60)))
        self.journal.progress(entry, test_minutes=minutes)
        self.clients("directconnect", self.region).start_bgp_failover_test(
            virtualInterfaceId=self.virtual_interface_id, testDurationInMinutes=minutes)

    def rollback(self, state: dict[str, Any]) -> None:
        if state.get("injector") == "fis":
            fis.rollback(self, state, stop=True)
            return
        if "test_minutes" not in state:
            return  # the test was never started
        dx = self.clients("directconnect", state["region"])
        try:
            dx.stop_bgp_failover_test(virtualInterfaceId=state["virtual_interface_id"])
        except ClientError as error:
            # Already over (its duration ran out, or someone stopped it) is nothing to undo. But every Direct
            # Connect client error has this one code and AWS documents no wording for "no test in progress":
            # the test is over only when the VIF is no longer under test.
            if (error.response["Error"]["Code"] != "DirectConnectClientException"
                    or _under_test(dx, state["virtual_interface_id"])):
                raise

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        if state.get("injector") == "fis":
            return fis.planned_rollback(state, stop=True)
        return ([Call("directconnect", state["region"], "StopBgpFailoverTest",
                      {"virtualInterfaceId": state.get("virtual_interface_id")})],
                "a test that already ended is left as it is (refused, and DescribeVirtualInterfaces no longer shows "
                "the VIF testing); a refusal while it is still testing fails the rollback")


def _under_test(dx: Any, virtual_interface_id: str) -> bool:
    """Whether DescribeVirtualInterfaces shows the VIF in the ``testing`` state (its BGP sessions held down)."""
    vifs = dx.describe_virtual_interfaces(virtualInterfaceId=virtual_interface_id)["virtualInterfaces"]
    return any(vif.get("virtualInterfaceState") == "testing" for vif in vifs)
