"""directconnect.disconnect_vif: the BGP failover test started on the VIF, stopped on rollback, as planned."""
from __future__ import annotations

import contextlib
import json
from typing import Any, Iterator
from unittest import mock

import pytest
from moto.core.exceptions import JsonRESTError

from faults import directconnect
from base.errors import FaultError
from faults.journal import Journal, open_entries
from tests.faults.conftest import Recorder
from tests.iam.scenario import STACK_TAG, VIF_ID, _direct_connect_vif

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


@contextlib.contextmanager
def _stop_refused(vif_state: str) -> Iterator[None]:
    """StopBgpFailoverTest answers DirectConnectClientException; DescribeVirtualInterfaces shows ``vif_state``."""
    from moto.directconnect.responses import DirectConnectResponse

    def stop(self: Any) -> str:
        raise JsonRESTError("DirectConnectClientException", "Rate exceeded for the VIF")

    def describe(self: Any) -> str:
        return json.dumps({"virtualInterfaces": [{"virtualInterfaceId": VIF_ID, "ownerAccount": "123456789012",
                                                  "virtualInterfaceState": vif_state,
                                                  "tags": [{"key": STACK_TAG[0], "value": STACK_TAG[1]}]}]})

    with mock.patch.object(DirectConnectResponse, "stop_bgp_failover_test", stop, create=True), \
            mock.patch.object(DirectConnectResponse, "describe_virtual_interfaces", describe, create=True):
        yield


def test_a_refused_stop_while_the_vif_is_still_under_test_is_not_rolled_back(clients: Recorder, journal: Journal) -> None:
    with _direct_connect_vif():
        fault = directconnect.DisconnectVif(clients, journal, region="us-west-2", virtual_interface_id=VIF_ID)
        with pytest.raises(FaultError, match="rolling back failed with DirectConnectClientException: Rate exceeded"):
            with _stop_refused("testing"), fault:
                pass
    assert [entry.fault for _, entry in open_entries(journal.target, journal.directory.parent)] == [fault.name]


def test_a_refused_stop_of_a_test_that_is_already_over_is_rolled_back(clients: Recorder, journal: Journal) -> None:
    with _direct_connect_vif():
        fault = directconnect.DisconnectVif(clients, journal, region="us-west-2", virtual_interface_id=VIF_ID)
        with _stop_refused("available"), fault:
            pass
    assert list(open_entries(journal.target, journal.directory.parent)) == []
    assert [op for _, op, _ in clients.calls][-2:] == ["StopBgpFailoverTest", "DescribeVirtualInterfaces"]
