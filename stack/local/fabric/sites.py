"""Links between sites outside AWS and Regions, and the route BGP picks over them.

A site (topology.ExternalSource with ``site`` set) reaches a Region's subnets only over its links
to that Region. Each link has a physical state (``up``: a Direct Connect VIF, a VPN's tunnels, an
Outpost's service link) and a BGP state (``advertised``). Routing uses the advertised link with the
highest preference, so Direct Connect carries the traffic while its routes are advertised.

When a link fails its routes stay advertised until BGP notices: the hold time, or BFD's detection
time when BFD is on (``detection_s``, wall seconds: the part applies the time scale). Meanwhile
traffic is still sent into the dead link and stalls, as it would on a real network; once the routes
are withdrawn it moves to the next link and held bytes flow on (the same addresses sit behind both
paths, so a TCP connection survives the switch). When the link returns its session comes back and
its routes are advertised again after ``establish_s``: traffic fails back.

Pure state plus timers through a ``schedule`` callable (the fabric's event loop), so tests drive it
without a loop.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from stack.local.fabric.errors import FabricCommandError

KINDS = ("direct_connect", "vpn", "service_link")


class Handle(Protocol):
    def cancel(self) -> None: ...


Schedule = Callable[[float, Callable[[], None]], Handle]


@dataclass
class SiteLink:
    link_id: str  # "<site>/<link>"
    site: str
    region: str
    kind: str
    preference: int
    added_delay_s: float = 0.0  # one way, on top of the site's base RTT / 2
    jitter_s: float = 0.0  # one way, per chunk: uniform [0, jitter_s)
    detection_s: float = 0.0  # wall seconds from failure until the routes are withdrawn
    establish_s: float = 0.0  # wall seconds from recovery until the routes are advertised again
    up: bool = True
    advertised: bool = True
    events: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, what happened)
    _timer: Handle | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], index: int) -> "SiteLink":
        where = f"set_site_links: links[{index}]"
        try:
            link = cls(str(data["link_id"]), str(data["site"]), str(data["region"]), str(data["kind"]),
                       int(data.get("preference", 100)), float(data.get("added_delay_ms", 0)) / 1000.0,
                       float(data.get("jitter_ms", 0)) / 1000.0, float(data.get("detection_s", 0)),
                       float(data.get("establish_s", 0)), bool(data.get("up", True)))
        except (KeyError, TypeError, ValueError) as error:
            raise FabricCommandError(f"{where}: {error!r}; a link needs link_id, site, region, kind") from None
        if link.kind not in KINDS:
            raise FabricCommandError(f"{where}: kind {link.kind!r} is not one of {', '.join(KINDS)}")
        if min(link.added_delay_s, link.jitter_s, link.detection_s, link.establish_s) < 0:
            raise FabricCommandError(f"{where}: delays and detection times must be >= 0: {dict(data)!r}")
        link.advertised = link.up
        return link

    def as_json(self) -> dict[str, Any]:
        return {"link_id": self.link_id, "site": self.site, "region": self.region, "kind": self.kind,
                "preference": self.preference, "added_delay_ms": self.added_delay_s * 1000.0,
                "jitter_ms": self.jitter_s * 1000.0, "detection_s": self.detection_s, "establish_s": self.establish_s,
                "up": self.up, "advertised": self.advertised,
                "events": [{"at": at, "event": what} for at, what in self.events[-20:]]}


@dataclass(frozen=True)
class Path:
    """What routing says about traffic between a site and a Region."""

    link: SiteLink | None  # the link routing uses; None: no advertised route
    blocked: str = ""  # why nothing gets through ("" when the path carries traffic)

    @property
    def added_delay_s(self) -> float:
        return self.link.added_delay_s if self.link is not None and not self.blocked else 0.0

    @property
    def jitter_s(self) -> float:
        return self.link.jitter_s if self.link is not None and not self.blocked else 0.0


class SiteRouter:
    def __init__(self, schedule: Schedule, on_change: Callable[[], None]) -> None:
        self._schedule = schedule
        self._on_change = on_change  # re-route every open flow
        self.links: dict[str, SiteLink] = {}

    def set_links(self, items: object) -> dict[str, Any]:
        """Replace the links; a link already known keeps its state (a restart of the part must not heal a cut)."""
        if not isinstance(items, list):
            raise FabricCommandError(f"set_site_links: links is {type(items).__name__}; expected a list")
        links = {}
        for index, item in enumerate(items):
            link = SiteLink.from_json(item, index)
            old = self.links.get(link.link_id)
            if old is not None:
                link.up, link.advertised, link.events, link._timer = old.up, old.advertised, old.events, old._timer
            links[link.link_id] = link
        for link_id, old in self.links.items():
            if link_id not in links and old._timer is not None:
                old._timer.cancel()
        self.links = links
        self._on_change()
        return {"links": len(links)}

    def set_state(self, link_id: str, up: bool) -> dict[str, Any]:
        """The link fails or returns; BGP follows after detection_s or establish_s."""
        link = self.links.get(link_id)
        if link is None:
            raise FabricCommandError(f"set_link_state: no link {link_id!r}; known: {sorted(self.links)}")
        if link.up == up:
            return link.as_json()
        link.up = up
        link.events.append((time.monotonic(), "up" if up else "down"))
        if link._timer is not None:
            link._timer.cancel()
            link._timer = None
        delay = link.establish_s if up else link.detection_s
        if link.advertised != up:
            if delay <= 0:
                self._advertise(link, up)
            else:
                link._timer = self._schedule(delay, lambda: self._advertise(link, up))
        self._on_change()
        return link.as_json()

    def _advertise(self, link: SiteLink, advertised: bool) -> None:
        link._timer = None
        if link.up != advertised or link.advertised == advertised:
            return  # the link changed again meanwhile
        link.advertised = advertised
        link.events.append((time.monotonic(), "advertised" if advertised else "withdrawn"))
        self._on_change()

    def path(self, site: str, region: str) -> Path:
        """The route from ``site`` to ``region``: the advertised link with the highest preference."""
        candidates = [link for link in self.links.values() if link.site == site and link.region == region]
        advertised = [link for link in candidates if link.advertised]
        if not advertised:
            why = (f"no link from site {site} to {region}" if not candidates else
                   f"no route from site {site} to {region}: every link is withdrawn ({', '.join(c.link_id for c in candidates)})")
            return Path(None, why)
        best = max(advertised, key=lambda link: (link.preference, link.link_id))
        if not best.up:
            return Path(best, f"site link {best.link_id} is down; BGP still routes over it until it is withdrawn")
        return Path(best)

    def as_json(self) -> list[dict[str, Any]]:
        return [link.as_json() for link in self.links.values()]
