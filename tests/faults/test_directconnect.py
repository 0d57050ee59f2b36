"""directconnect.disconnect_vif: the BGP failover test started on the VIF, stopped on rollback, as planned."""
from __future__ import annotations

import pytest

from faults import directconnect
from faults.journal import Journal
from tests.faults.conftest import Recorder
from tests.iam.scenario import VIF_ID, _direct_connect_vif

pytestmark = pytest.mark.usefixtures("guard")


def test_the_fault_starts_the_failover_test_and_rollback_stops_it(clients: Recorder, journal: Journal) -> None:
    with _direct_connect_vif():
        fault = directconnect.DisconnectVif(clients, journal, region="us-west-2", virtual_interface_id=VIF_ID)
        with fault:
            started = [params for _, op, params in clients.calls if op == "StartBgpFailoverTest"]
            # The test outlasts the experiment: the FIS settings' max duration (3600 s), in minutes.
            assert started == [{"virtualInterfaceId": VIF_ID, "testDurationInMinutes": 60}]
            assert fault.targets() == [f"arn:aws:directconnect:us-west-2:123456789012:dxvif/{VIF_ID}"]
        assert [op for op in clients.mutating()] == ["StartBgpFailoverTest", "StopBgpFailoverTest"]
        calls, _ = fault.planned_rollback({**fault.params(), "injector": "api", "test_minutes": 60})
        assert [(c.service, c.operation) for c in calls] == [("directconnect", "StopBgpFailoverTest")]


def test_the_fis_action_asks_for_at_least_ten_minutes() -> None:
    action = directconnect.disconnect_vif_action(["arn:aws:directconnect:us-west-2:1:dxvif/dxvif-1"], 60)
    assert (action.action_id, action.parameters["duration"]) == (directconnect.DISCONNECT_VIF, "PT10M")
