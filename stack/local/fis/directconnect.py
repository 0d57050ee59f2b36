"""``aws:directconnect:virtual-interface-disconnect``: the target VIFs' BGP sessions down for the duration.

FIS brings a VIF's BGP sessions down the way Direct Connect's failover test does, so the action runs
``StartBgpFailoverTest`` on each target VIF (the test's own duration, in whole minutes, outlasting the
action's: a dead man's switch if the experiment dies) and ``StopBgpFailoverTest`` at the end. Behind
the endpoint, the control plane takes the VIF's site link down in the fabric, whose BGP moves the
traffic to the next link after the hold time or BFD's detection time.
"""
from __future__ import annotations

import math

from botocore.exceptions import ClientError

from stack.local.fis.actions import ActionFailed, Run

MAX_TEST_MINUTES = 4320


def disconnect(run: Run) -> None:
    seconds = run.duration_wall_s()
    assert seconds is not None
    dx = run.clients("directconnect", run.region)
    minutes = min(MAX_TEST_MINUTES, math.ceil(run.timescale.to_aws(seconds) / 60.0) + 1)
    started: list[str] = []
    try:
        for vif in run.ids("DXVirtualInterfaces"):
            try:
                dx.start_bgp_failover_test(virtualInterfaceId=vif, testDurationInMinutes=minutes)
            except ClientError as error:
                raise ActionFailed(f"StartBgpFailoverTest on {vif}: {error.response['Error'].get('Message')}") from None
            started.append(vif)
        run.applied()
        run.wait(seconds)
    finally:
        for vif in reversed(started):
            try:
                dx.stop_bgp_failover_test(virtualInterfaceId=vif)
            except ClientError as error:
                if "No BGP failover test is in progress" not in str(error):
                    raise
