"""One checkout process: started, awaited, stopped; and gone by itself when its parent dies."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from base.deadline import holds_within
from stack.local.ec2 import unixhttp
from stack.local.ec2.errors import CheckoutStartError
from stack.local.ec2.process import CheckoutProcess, Launch


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gd-ec2-proc-"))  # short: Unix socket paths are limited to 108 bytes
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def launch(workdir: Path, instance_id: str = "i-00000000000000abc", region: str = "us-east-1") -> Launch:
    return Launch(instance_id=instance_id, region=region, availability_zone=f"{region}a", private_ip="127.0.0.1",
                  uds=workdir / "c.sock", log=workdir / "c.log", dns_host="127.0.0.1", dns_port=53)


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_start_wait_and_stop(workdir: Path) -> None:
    process = CheckoutProcess(launch(workdir))
    process.start()
    try:
        process.wait_ready(20)
        assert unixhttp.call(process.launch.uds, "GET", "/products").status == 200
    finally:
        process.stop()
    assert not process.alive() and not process.launch.uds.exists()


def test_a_process_that_cannot_start_reports_its_log(workdir: Path) -> None:
    process = CheckoutProcess(launch(workdir, instance_id="not-an-instance-id"))
    process.start()
    try:
        with pytest.raises(CheckoutStartError, match="not an EC2 instance id"):
            process.wait_ready(20)
    finally:
        process.stop()


def test_the_process_exits_when_its_parent_dies(workdir: Path) -> None:
    # A parent that starts the checkout, waits until it serves, prints its pid and dies without stopping it.
    parent = textwrap.dedent(f"""
        from pathlib import Path
        from stack.local.ec2.process import CheckoutProcess, Launch
        launch = Launch("i-00000000000000abd", "us-east-1", "us-east-1a", "127.0.0.1", Path({str(workdir / "o.sock")!r}),
                        Path({str(workdir / "o.log")!r}), "127.0.0.1", 53)
        process = CheckoutProcess(launch)
        process.start()
        process.wait_ready(20)
        print(process.pid, flush=True)
    """)
    result = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[4])
    assert result.returncode == 0, result.stderr
    pid = int(result.stdout.strip())
    if not holds_within(lambda: gone(pid), 10):
        subprocess.run(["kill", "-9", str(pid)])
        raise AssertionError(f"orphaned checkout {pid} did not exit within 10 s of its parent's death")
