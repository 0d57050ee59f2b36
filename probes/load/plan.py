"""What a load run does: crowds of users, each from its own place, at a declared rate, for a bounded time.

A ``Crowd`` is Locust users of one kind from one place: a vantage point's users, or the bots of the
bot-flood experiment. Each user sends ``rate_per_user`` requests per second (Locust's
``constant_throughput``) from its own source address in the crowd's subnet (hosts .10, .11, ...; with
``addresses``, several users share each address: one IP sending faster than one connection can), and
resolves the target's name at the authoritative server with the crowd's subnet as EDNS Client
Subnet, honouring the TTL, as that user's resolver would. On AWS a crowd has no subnet: users
connect from the machine's own address and resolve through the system's resolver.

The plan is plain JSON so that the child process that runs Locust (and Locust's distributed
workers, see docs/load.md) read exactly what the caller declared.
"""
from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field

MAX_USERS = 200  # per crowd: the hosts .10 to .209 of a /24
MAX_DURATION_S = 600.0  # a load run is bounded in time (wall seconds)
MAX_RATE = 100.0  # requests per second per user


@dataclass(frozen=True)
class Target:
    """Where the users go: a DNS name (sent as Host), the port, and where it is resolved."""

    name: str  # e.g. d1234abcd.cloudfront.net
    port: int = 80
    dns_server: str | None = None  # the authoritative server to ask (local stack); None: the system's resolver
    dns_port: int = 53


@dataclass(frozen=True)
class Crowd:
    name: str
    users: int
    rate_per_user: float  # requests per second, per user
    subnet: str | None = None  # source addresses (and EDNS client subnet); None on AWS
    paths: tuple[str, ...] = ("/",)  # each user cycles through them
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    addresses: int | None = None  # distinct source addresses the users share round-robin (None: one per user)

    def __post_init__(self) -> None:
        if not 1 <= self.users <= MAX_USERS:
            raise ValueError(f"crowd {self.name!r}: users must be 1..{MAX_USERS}, got {self.users}")
        if not 0 < self.rate_per_user <= MAX_RATE:
            raise ValueError(f"crowd {self.name!r}: rate_per_user must be > 0 and <= {MAX_RATE} requests/s, "
                             f"got {self.rate_per_user!r}")
        if not self.paths or not all(path.startswith("/") for path in self.paths):
            raise ValueError(f"crowd {self.name!r}: paths must be absolute (start with '/'), got {list(self.paths)}")
        if self.addresses is not None and not 1 <= self.addresses <= self.users:
            raise ValueError(f"crowd {self.name!r}: addresses must be 1..users ({self.users}), got {self.addresses}")
        if self.subnet is not None:
            try:
                network = ipaddress.IPv4Network(self.subnet)
            except ValueError as error:
                raise ValueError(f"crowd {self.name!r}: subnet {self.subnet!r} is not an IPv4 CIDR block ({error})") from None
            if network.num_addresses < 10 + self.users + 1:
                raise ValueError(f"crowd {self.name!r}: subnet {self.subnet} has too few addresses for {self.users} users "
                                 "(hosts .10 onwards are used)")

    def address(self, index: int) -> str | None:
        """The source address of user ``index`` (0-based), or None when the crowd has no subnet."""
        if self.subnet is None:
            return None
        return str(ipaddress.IPv4Network(self.subnet)[10 + index % (self.addresses or self.users)])


@dataclass(frozen=True)
class LoadPlan:
    target: Target
    crowds: tuple[Crowd, ...]
    duration_s: float  # wall seconds
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    labels: dict[str, str] = field(default_factory=dict)  # carried into the result, for the report

    def __post_init__(self) -> None:
        if not 0 < self.duration_s <= MAX_DURATION_S:
            raise ValueError(f"load plan duration_s must be > 0 and <= {MAX_DURATION_S:g} s, got {self.duration_s!r}")
        if not self.crowds:
            raise ValueError("a load plan needs at least one crowd")
        names = [crowd.name for crowd in self.crowds]
        if len(set(names)) != len(names):
            raise ValueError(f"crowd names must be unique, got {names}")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "LoadPlan":
        raw = json.loads(text)
        crowds = tuple(Crowd(**{**c, "paths": tuple(c["paths"]), "headers": tuple((str(h[0]), str(h[1])) for h in c["headers"])})
                       for c in raw["crowds"])
        return cls(Target(**raw["target"]), crowds, float(raw["duration_s"]), float(raw["connect_timeout_s"]),
                   float(raw["read_timeout_s"]), dict(raw.get("labels") or {}))
