"""A run killed with SIGKILL mid-fault, then `gameday recover`, leaves the stack as it was."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from gameday.fixtures import LocalStackInfo

INJECT_AND_HANG = textwrap.dedent("""
    import sys, time, boto3
    from environments import loader
    from faults.network import IsolateAz
    from gameday.guard import Guard, Policy
    from gameday.journal import Journal
    endpoint, target, subnet, region, az = sys.argv[1:6]
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    clients = lambda service, r: session.client(service, region_name=r, endpoint_url=endpoint)
    guard = Guard(Policy.for_environment(loader.load("local")))
    fault = IsolateAz(clients, Journal(target), region=region, availability_zone=az, subnet_id=subnet, guard=guard)
    fault.__enter__()
    print("injected", flush=True)
    time.sleep(300)
""")


def _acl(aws_client: Any, region: str, subnet: str) -> str:
    acls = aws_client("ec2", region).describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"]
    return str(acls[0]["NetworkAclId"])


def test_kill_9_then_recover(local_stack: LocalStackInfo, aws_client: Any, tmp_path: Path) -> None:
    ec2 = aws_client("ec2", "us-west-2")
    vpc = ec2.create_vpc(CidrBlock="127.99.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.99.1.0/24", AvailabilityZone="us-west-2a", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": [{"Key": "gameday:stack", "Value": "securecart"}]}])["Subnet"]["SubnetId"]
    before = _acl(aws_client, "us-west-2", subnet)
    env = dict(os.environ, GAMEDAY_JOURNAL_DIR=str(tmp_path), GAMEDAY_INSTANCE=str(local_stack.instance))
    victim = subprocess.Popen([sys.executable, "-c", INJECT_AND_HANG, local_stack.aws_endpoint,
                               f"local-{local_stack.instance}", subnet, "us-west-2", "us-west-2a"],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert victim.stdout is not None and victim.stdout.readline().strip() == "injected"
        assert _acl(aws_client, "us-west-2", subnet) != before
    finally:
        victim.kill()  # SIGKILL: no finally, no rollback
        victim.wait(timeout=10)
    scan = subprocess.run([sys.executable, "-m", "gameday.cli", "scan"], capture_output=True, text=True, env=env, timeout=60)
    assert scan.returncode == 1 and "network-acl" in scan.stdout and subnet in scan.stdout
    recovered = subprocess.run([sys.executable, "-m", "gameday.cli", "recover"], capture_output=True, text=True, env=env, timeout=60)
    assert recovered.returncode == 0, recovered.stderr
    assert "rolled back" in recovered.stdout and "network.isolate_az" in recovered.stdout
    assert _acl(aws_client, "us-west-2", subnet) == before
    again = subprocess.run([sys.executable, "-m", "gameday.cli", "recover"], capture_output=True, text=True, env=env, timeout=60)
    assert "nothing to recover" in again.stdout
    clean = subprocess.run([sys.executable, "-m", "gameday.cli", "scan"], capture_output=True, text=True, env=env, timeout=60)
    assert subnet not in clean.stdout
