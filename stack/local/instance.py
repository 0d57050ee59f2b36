"""Where one local stack instance lives: its ports, its address ranges and its state directory.

Several stacks can run on one machine (a user's stack beside the tests', or one per xdist worker).
Instance 0 is the default and uses the environment's addresses and ports as written: the AWS
endpoint on 127.0.0.1:4566. Instance k (1..9) moves everything out of the way of the others:

- its control listeners (AWS endpoint, DNS) bind to 127.0.k.1 on the same ports;
- every VPC CIDR's second octet grows by 8*k (127.16.0.0/16 -> 127.24.0.0/16 for k=1);
- every vantage-point (and bot) subnet's second octet grows by k (127.200.1.0/24 -> 127.201.1.0/24);
- Global Accelerator's static addresses (accelerator_cidr) move by k in the second octet (127.241.0.0/16);
- Route 53 health checkers use 127.(210+k).N.0/24;
- every CloudFront edge location's second octet grows by k (127.230.0.3 -> 127.231.0.3);
- every site's range (environments.sites) moves its second octet by k (127.220.1.0/24 -> 127.221.1.0/24);
- its state lives in <runtime dir>/gameday/<k>, its logs in <state home>/gameday/logs/<k>.

The instance is chosen with ``GAMEDAY_INSTANCE`` (or ``--instance``); pytest-xdist workers
use 1 + their worker number, so tests never touch a user's stack on instance 0.
"""
from __future__ import annotations

import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from base.numbers import whole_number
from environments.model import LocalEnvironment
from base.errors import SettingsError

MAX_INSTANCE = 9
VPC_OCTET_STRIDE = 8


def _shift(cidr: str, octets: int) -> str:
    network = ipaddress.IPv4Network(cidr)
    shifted = ipaddress.IPv4Address(int(network.network_address) + (octets << 16))
    return f"{shifted}/{network.prefixlen}"


def runtime_root() -> Path:
    """Parent of every instance's state directory; $GAMEDAY_RUNTIME_DIR overrides it."""
    configured = os.environ.get("GAMEDAY_RUNTIME_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"gameday-{os.getuid()}"


def log_root() -> Path:
    """Parent of every instance's log directory: $XDG_STATE_HOME/gameday/logs (~/.local/state by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "gameday" / "logs"


def instance_from_environ(default: int = 0) -> int:
    """$GAMEDAY_INSTANCE, else ``default``. Raises SettingsError naming the variable when it is not 0-9."""
    raw = os.environ.get("GAMEDAY_INSTANCE", str(default))
    number = whole_number(raw)
    if number is None or number > MAX_INSTANCE:
        raise SettingsError(f"GAMEDAY_INSTANCE: {raw!r} is not allowed; use an integer from 0 to {MAX_INSTANCE}")
    return number


@dataclass(frozen=True)
class Instance:
    number: int
    environment: LocalEnvironment

    def __post_init__(self) -> None:
        if not 0 <= self.number <= MAX_INSTANCE:
            raise SettingsError(f"instance: {self.number} is not allowed; use 0 to {MAX_INSTANCE}")

    @property
    def option(self) -> str:
        """What a hint's command line needs to reach this instance: `` --instance N``, or nothing for the default 0."""
        return "" if self.number == 0 else f" --instance {self.number}"

    @property
    def control_host(self) -> str:
        return "127.0.0.1" if self.number == 0 else f"127.0.{self.number}.1"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.control_host}:{self.environment.local.aws_endpoint_port}"

    @property
    def dns_port(self) -> int:
        return self.environment.local.dns_port

    @property
    def state_dir(self) -> Path:
        return runtime_root() / str(self.number)

    @property
    def log_dir(self) -> Path:
        """Logs outlive the stack on purpose, so a failed CI run can still be read after `down`."""
        return log_root() / str(self.number)

    def resolved(self) -> LocalEnvironment:
        """The environment with this instance's address ranges, which the builder and data planes use."""
        if self.number == 0:
            return self.environment
        env = self.environment
        vpc_shift = VPC_OCTET_STRIDE * self.number
        regions = {
            name: region.model_copy(update={
                "vpc_cidr": _shift(region.vpc_cidr, vpc_shift),
                "availability_zones": {
                    az: zone.model_copy(update={"subnet_cidr": _shift(zone.subnet_cidr, vpc_shift)})
                    for az, zone in region.availability_zones.items()
                },
            })
            for name, region in env.regions.items()
        }
        vantage_points = {
            name: vp.model_copy(update={"subnet": _shift(vp.subnet, self.number)})
            for name, vp in env.vantage_points.items()
        }
        bots = {name: bot.model_copy(update={"subnet": _shift(bot.subnet, self.number)}) for name, bot in env.bots.items()}
        edges = {code: edge.model_copy(update={"address": str(edge.ip + (self.number << 16))})
                 for code, edge in env.edge_locations.items()}
        sites = {name: site.model_copy(update={"cidr": _shift(site.cidr, self.number)}) for name, site in env.sites.items()}
        return env.model_copy(update={"regions": regions, "vantage_points": vantage_points, "bots": bots, "edge_locations": edges,
                                      "accelerator_cidr": _shift(env.accelerator_cidr, self.number), "sites": sites})

    def checker_subnet(self, index: int) -> str:
        """The client subnet of Route 53 health checker number ``index`` (0-based)."""
        return f"127.{210 + self.number}.{index + 1}.0/24"
