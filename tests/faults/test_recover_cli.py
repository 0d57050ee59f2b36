"""A run killed mid-fault leaves the stack as it was: SIGTERM and SIGINT roll back at once; after SIGKILL,
`gameday recover` does."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gameday.fixtures import LocalStackInfo

INJECT_AND_HANG = textwrap.dedent("""
    import signal, sys, time, boto3
    # A process started in the background by a non-interactive shell (nohup, `&`, some CI runners)
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt: the signal tests would
    # hang. An interactive run, which is what they stand for, has the default handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from environments import loader
    from faults.network import IsolateAz
    from faults.guard import Guard, Policy
    from faults.journal import Journal
    endpoint, target, subnet, region, az = sys.argv[1:6]
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    clients = lambda service, r: session.client(service, region_name=r, endpoint_url=endpoint)
    guard = Guard(Policy.for_environment(loader.load("local")))
    fault = IsolateAz(clients, Journal(target), region=region, availability_zone=az, subnet_id=subnet, guard=guard)
    if sys.argv[6] == "with":
        with fault:  # how experiments use a fault: the signal must unwind through this
            print("injected", flush=True)
            time.sleep(300)
    else:
        fault.__enter__()
        print("injected", flush=True)
        time.sleep(300)
""")


def _acl(aws_client: Any, region: str, subnet: str) -> str:
    acls = aws_client("ec2", region).describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"]
    return str(acls[0]["NetworkAclId"])


def _subnet(aws_client: Any, second_octet: int) -> str:
    """A subnet of its own (tagged like the builder's, so the guard lets faults touch it)."""
    ec2 = aws_client("ec2", "us-west-2")
    vpc = ec2.create_vpc(CidrBlock=f"127.{second_octet}.0.0/16")["Vpc"]["VpcId"]
    return str(ec2.create_subnet(VpcId=vpc, CidrBlock=f"127.{second_octet}.1.0/24", AvailabilityZone="us-west-2a",
                                 TagSpecifications=[{"ResourceType": "subnet", "Tags": [
                                     {"Key": "gameday:stack", "Value": "securecart"}]}])["Subnet"]["SubnetId"])


def _injected(local_stack: LocalStackInfo, aws_client: Any, tmp_path: Path, second_octet: int,
              mode: str) -> tuple[subprocess.Popen[str], str, str, dict[str, str]]:
    """A run with the subnet's AZ isolated: (the process, the subnet, its original NACL, the run's environment)."""
    subnet = _subnet(aws_client, second_octet)
    before = _acl(aws_client, "us-west-2", subnet)
    env = dict(os.environ, GAMEDAY_JOURNAL_DIR=str(tmp_path), GAMEDAY_INSTANCE=str(local_stack.instance))
    victim = subprocess.Popen([sys.executable, "-c", INJECT_AND_HANG, local_stack.aws_endpoint,
                               f"local-{local_stack.instance}", subnet, "us-west-2", "us-west-2a", mode],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert victim.stdout is not None and victim.stdout.readline().strip() == "injected"
        assert _acl(aws_client, "us-west-2", subnet) != before
    except BaseException:
        victim.kill()
        victim.wait(timeout=10)
        raise
    return victim, subnet, before, env


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_roll_back_before_exiting(local_stack: LocalStackInfo, aws_client: Any, tmp_path: Path,
                                                     signal_number: int) -> None:
    victim, subnet, before, env = _injected(local_stack, aws_client, tmp_path,
                                            98 if signal_number == signal.SIGTERM else 97, "with")
    try:
        victim.send_signal(signal_number)
        _, stderr = victim.communicate(timeout=60)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(timeout=10)
            # Leave no fault behind for the next test on this stack, even when this one fails.
            subprocess.run([sys.executable, "-m", "gameday.cli", "recover"], capture_output=True, env=env, timeout=120)
    assert victim.returncode != 0, "the run must still end after rolling back"
    assert ("Terminated" if signal_number == signal.SIGTERM else "KeyboardInterrupt") in stderr, stderr[-2000:]
    assert _acl(aws_client, "us-west-2", subnet) == before
    recovered = subprocess.run([sys.executable, "-m", "gameday.cli", "recover"], capture_output=True, text=True, env=env,
                               timeout=60)
    assert "nothing to recover" in recovered.stdout, recovered.stdout


def test_kill_9_then_recover(local_stack: LocalStackInfo, aws_client: Any, tmp_path: Path) -> None:
    victim, subnet, before, env = _injected(local_stack, aws_client, tmp_path, 99, "enter")
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
