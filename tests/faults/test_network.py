"""network.isolate_az and network.isolate_region: the FIS NACL method, its journal and its rollback."""
from __future__ import annotations

import time
from typing import Any

import pytest

from base import clock
from base.timeline import Timeline
from faults import leftovers, network
from faults.base import FAULT_TAG
from faults import journal as journal_
from base.errors import FaultError
from faults.journal import Journal
from tests.faults.conftest import Recorder

pytestmark = pytest.mark.usefixtures("guard")
TAGGED = [{"ResourceType": "subnet", "Tags": [{"Key": "gameday:stack", "Value": "securecart"}]}]


def _vpc(clients: Recorder, region: str = "us-east-1") -> tuple[str, list[str]]:
    ec2 = clients("ec2", region)
    vpc = ec2.create_vpc(CidrBlock="127.16.0.0/16", TagSpecifications=[{
        "ResourceType": "vpc", "Tags": [{"Key": "gameday:stack", "Value": "securecart"}]}])["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"127.16.{n}.0/24", AvailabilityZone=f"{region}{az}",
                                 TagSpecifications=TAGGED)["Subnet"]["SubnetId"]
               for n, az in ((1, "a"), (2, "b"))]
    return vpc, subnets


def _acl_of(clients: Recorder, subnet: str) -> dict[str, Any]:
    return clients("ec2", "us-east-1").describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]


def test_isolate_az_swaps_to_a_tagged_deny_clone_and_back(clients: Recorder, journal: Journal) -> None:
    _, (subnet_a, subnet_b) = _vpc(clients)
    original = _acl_of(clients, subnet_a)["NetworkAclId"]
    clients.calls.clear()
    with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet_a):
        clone = _acl_of(clients, subnet_a)
        assert clone["NetworkAclId"] != original
        tags = {t["Key"]: t["Value"] for t in clone["Tags"]}
        assert "managedByFIS" not in tags, "FIS's tag is FIS's: the api injector uses gameday's own"
        assert tags[FAULT_TAG] and tags["Name"] == f"gameday-isolate-{subnet_a}"
        rules = sorted((e["Egress"], e["RuleNumber"], e["RuleAction"], e["CidrBlock"]) for e in clone["Entries"] if e["RuleNumber"] < 32767)
        assert rules == [(False, 100, "allow", "127.16.1.0/24"), (False, 200, "deny", "0.0.0.0/0"),
                         (True, 100, "allow", "127.16.1.0/24"), (True, 200, "deny", "0.0.0.0/0")]
        assert _acl_of(clients, subnet_b)["NetworkAclId"] == original  # the other AZ is untouched
    assert _acl_of(clients, subnet_a)["NetworkAclId"] == original
    assert clients.mutating() == ["CreateNetworkAcl"] + ["CreateNetworkAclEntry"] * 4 + [
        "ReplaceNetworkAclAssociation", "ReplaceNetworkAclAssociation", "DeleteNetworkAcl"]
    assert list(journal_.open_entries("test-target", journal.directory.parent)) == []
    assert leftovers.scan(clients, ["us-east-1"], ("gameday:stack", "securecart")) == []


def test_exception_inside_the_block_still_rolls_back(clients: Recorder, journal: Journal) -> None:
    _, (subnet_a, _) = _vpc(clients)
    original = _acl_of(clients, subnet_a)["NetworkAclId"]
    with pytest.raises(RuntimeError):
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet_a):
            raise RuntimeError("the experiment broke")
    assert _acl_of(clients, subnet_a)["NetworkAclId"] == original


def test_failure_half_way_undoes_what_was_done(clients: Recorder, journal: Journal) -> None:
    _, (subnet_a, _) = _vpc(clients)
    original = _acl_of(clients, subnet_a)["NetworkAclId"]
    clients.fail_on = "ReplaceNetworkAclAssociation"
    with pytest.raises(FaultError, match=r"network.isolate_az: injecting failed with Throttling"):
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet_a):
            pass
    clients.fail_on = None
    assert _acl_of(clients, subnet_a)["NetworkAclId"] == original
    acls = clients("ec2", "us-east-1").describe_network_acls()["NetworkAcls"]
    assert not [a for a in acls if any(t["Key"] == "gameday:fault" for t in a.get("Tags", []))], "the clone must be deleted"


def test_journal_is_written_before_aws_is_called(clients: Recorder, journal: Journal) -> None:
    _, (subnet_a, _) = _vpc(clients)
    seen: list[int] = []
    clients("ec2", "us-east-1").meta.events.register(
        "before-call.ec2.CreateNetworkAcl", lambda **_: seen.append(len(journal.path.read_text().splitlines())))
    with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet_a):
        pass
    assert seen and seen[0] >= 2, "begin and the original NACL id must be on disk before the clone is created"


def test_recover_undoes_a_run_that_never_rolled_back(clients: Recorder, journal: Journal) -> None:
    _, (subnet_a, _) = _vpc(clients)
    original = _acl_of(clients, subnet_a)["NetworkAclId"]
    fault = network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet_a)
    fault.entry = journal.begin(fault.name, fault.params())
    fault.inject(fault.entry)  # injected, then the process "dies": no __exit__
    found = leftovers.scan(clients, ["us-east-1"], ("gameday:stack", "securecart"))
    assert {item.kind for item in found} == {"network-acl", "swapped-association"}
    results = leftovers.recover("test-target", clients, journal.directory.parent)
    assert [(r.fault, r.outcome) for r in results] == [("network.isolate_az", "rolled back")]
    assert _acl_of(clients, subnet_a)["NetworkAclId"] == original
    assert leftovers.recover("test-target", clients, journal.directory.parent) == []
    assert leftovers.scan(clients, ["us-east-1"], ("gameday:stack", "securecart")) == []


def test_isolate_region_cuts_and_restores_every_subnet(clients: Recorder, journal: Journal) -> None:
    _, subnets = _vpc(clients)
    original = {s: _acl_of(clients, s)["NetworkAclId"] for s in subnets}
    with network.IsolateRegion(clients, journal, region="us-east-1", subnet_ids=subnets) as fault:
        assert all(_acl_of(clients, s)["NetworkAclId"] != original[s] for s in subnets)
        assert set(fault.entry.state) == {f"subnet:{s}" for s in subnets}  # type: ignore[union-attr]
    assert {s: _acl_of(clients, s)["NetworkAclId"] for s in subnets} == original


def test_isolate_region_failing_on_the_second_subnet_restores_both(clients: Recorder, journal: Journal) -> None:
    _, subnets = _vpc(clients)
    original = {s: _acl_of(clients, s)["NetworkAclId"] for s in subnets}
    # The first subnet is cut, the second swap fails once; the rollback must restore the first and clean both.
    clients.fail_on, clients.fail_skip, clients.fail_times = "ReplaceNetworkAclAssociation", 1, 1
    with pytest.raises(FaultError, match="network.isolate_region: injecting failed with Throttling"):
        with network.IsolateRegion(clients, journal, region="us-east-1", subnet_ids=subnets):
            pass
    clients.fail_on = None
    assert {s: _acl_of(clients, s)["NetworkAclId"] for s in subnets} == original
    assert leftovers.scan(clients, ["us-east-1"], ("gameday:stack", "securecart")) == []
    assert list(journal_.open_entries("test-target", journal.directory.parent)) == []


def test_a_failed_rollback_stays_journaled_until_recover(clients: Recorder, journal: Journal) -> None:
    _, (subnet_a, _) = _vpc(clients)
    original = _acl_of(clients, subnet_a)["NetworkAclId"]
    with pytest.raises(FaultError, match="network.isolate_az: rolling back failed with Throttling"):
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet_a):
            clients.fail_on = "DeleteNetworkAcl"
    clients.fail_on = None
    assert _acl_of(clients, subnet_a)["NetworkAclId"] == original  # the association came back before the failure
    assert [item.kind for item in leftovers.scan(clients, ["us-east-1"], ("gameday:stack", "securecart"))] == ["network-acl"]
    assert len(list(journal_.open_entries("test-target", journal.directory.parent))) == 1
    results = leftovers.recover("test-target", clients, journal.directory.parent)
    assert [r.outcome for r in results] == ["rolled back"]
    assert leftovers.scan(clients, ["us-east-1"], ("gameday:stack", "securecart")) == []


def test_the_fault_is_dated_from_when_its_injection_began(clients: Recorder, journal: Journal) -> None:
    """A fault takes effect at its first mutating call, which can come well before its injection returns (a FIS
    template's subnet cut lands while its instances are still stopping): the timeline dates it from the start,
    so an RTO measured from it counts the whole outage. The event says how long the injection took."""
    _, (subnet, _) = _vpc(clients)

    class SlowToReturn(network.IsolateAz):
        def inject(self, entry: Any) -> None:
            super().inject(entry)
            time.sleep(0.2)  # a later action still starting after the cut took effect

    timeline = Timeline("test")
    before = clock.now()
    with SlowToReturn(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                      timeline=timeline):
        returned = clock.now()
    [injected] = timeline.of_kind("fault_injected")
    assert before.monotonic_s <= injected.at.monotonic_s <= returned.monotonic_s - 0.2
    assert injected.details["injection_s"] >= 0.2
