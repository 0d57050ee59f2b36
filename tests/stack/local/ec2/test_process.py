"""One checkout process (forked by a zygote): started, awaited, stopped; and gone by itself when its parent dies."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from base.deadline import holds_within
from stack.local.ec2 import unixhttp
from stack.local.ec2.errors import CheckoutStartError
from stack.local.ec2.process import CheckoutProcess, Launch
from stack.local.process import REPO_ROOT
from stack.local.zygote.client import Zygote


def launch(workdir: Path, instance_id: str = "i-00000000000000abc", region: str = "us-east-1") -> Launch:
    return Launch(instance_id=instance_id, region=region, availability_zone=f"{region}a", private_ip="127.0.0.1",
                  uds=workdir / "c.sock", log=workdir / "c.log", dns_host="127.0.0.1", dns_port=53)


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_start_wait_and_stop(workdir: Path, zygote: Zygote) -> None:
    process = CheckoutProcess(launch(workdir), zygote)
    process.start()
    try:
        process.wait_ready(20)
        assert unixhttp.call(process.launch.uds, "GET", "/products").status == 200
    finally:
        process.stop()
    assert not process.alive() and not process.launch.uds.exists()


def test_a_process_that_cannot_start_reports_its_exit_and_log(workdir: Path, zygote: Zygote) -> None:
    process = CheckoutProcess(launch(workdir, instance_id="not-an-instance-id"), zygote)
    process.start()
    try:
        with pytest.raises(CheckoutStartError, match=r"exited with code 2 while starting(.|\n)*not an EC2 instance id"):
            process.wait_ready(20)
    finally:
        process.stop()


def test_the_zygote_and_its_processes_exit_when_their_parent_dies(workdir: Path) -> None:
    # A parent that starts the checkout, waits until it serves, prints its pids and dies without stopping it.
    parent = textwrap.dedent(f"""
        from pathlib import Path
        from stack.local.ec2.process import CheckoutProcess, Launch, checkout_zygote
        w = Path({str(workdir)!r})
        zygote = checkout_zygote(w / "p.sock", w / "p.log")
        process = CheckoutProcess(Launch("i-00000000000000abd", "us-east-1", "us-east-1a", "127.0.0.1", w / "o.sock",
                                         w / "o.log", "127.0.0.1", 53), zygote)
        process.start()
        process.wait_ready(20)
        print(zygote.pid, process.pid, flush=True)
    """)
    result = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    pids = [int(p) for p in result.stdout.split()]
    if not holds_within(lambda: all(gone(p) for p in pids), 10):
        subprocess.run(["kill", "-9", *map(str, pids)])
        raise AssertionError(f"orphaned zygote and checkout {pids} did not exit within 10 s of their parent's death")
