"""The parts together on the session's local stack: a fault through the API, its real effect, and back."""
from __future__ import annotations

from typing import Any

from faults.network import IsolateAz
from faults.journal import Journal
from stack.handles import ReferenceStack
from tests.stack.waiting import until



def test_health_check_fails_when_the_fabric_isolates_its_az(stack: ReferenceStack, aws_client: Any, tmp_path: Any) -> None:
    """Route 53's checkers reach the instance through the fabric, so a NACL cut fails the check for real."""
    target = next(i for i in stack.instances if i.availability_zone.endswith("b") and i.region == "us-west-2")
    route53 = aws_client("route53", "us-east-1")

    def statuses() -> list[str]:
        return [o["StatusReport"]["Status"] for o in route53.get_health_check_status(
            HealthCheckId=target.health_check_id)["HealthCheckObservations"]]

    until(lambda: statuses() and all(s.startswith("Success") for s in statuses()), "the check to pass first")
    fault = IsolateAz(lambda service, region: aws_client(service, region), Journal("test", tmp_path),
                      region=target.region, availability_zone=target.availability_zone,
                      subnet_id=stack.subnet(target.availability_zone).subnet_id)
    with fault:
        failing = until(lambda: (s := statuses()) and all(x.startswith("Failure") for x in s) and s,
                         "every checker to report a failure")
        assert any("timed out" in status for status in failing), failing  # a dead network, not a refusal
    until(lambda: all(s.startswith("Success") for s in statuses()), "the check to pass again after the rollback")
