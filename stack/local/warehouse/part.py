"""``WarehousePart``: the inventory API in the warehouse links' Region and the warehouse service at its site.

Both run in one child process (``stack.local.warehouse.__main__``, forked by the stack's zygote:
stack.local.zygote): the inventory API listens on the
instance's control host and the fabric exposes it on an address of the Region's first subnet; the
warehouse service binds the warehouse site's address, so every transaction crosses the site's links
(Direct Connect, or the VPN once BGP moved the traffic). The part itself serves the site router's
BFD switch (router.py), which the fabric's BGP takes through the SiteLinks service. Nothing runs
without a warehouse site in the environment.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Mapping

from base.deadline import DeadlineExceeded, until
from base.errors import StackError
from environments import warehouse as addresses
from stack.local import process as executor
from stack.local.part import ApiHandler, Change, Health, PartContext
from stack.local.services import Network, SiteLinks
from stack.local.warehouse.router import RouterServer
from stack.local.zygote.client import Zygote, shared_or_own

READY_TIMEOUT_S = 30.0
WAREHOUSE_MAIN = "stack.local.warehouse.__main__:main"


class WarehousePart:
    name: ClassVar[str] = "warehouse"
    provides: ClassVar[tuple[type, ...]] = ()
    requires: ClassVar[tuple[type, ...]] = (Network,)

    def __init__(self) -> None:
        self.context: PartContext | None = None
        self.log = logging.getLogger("gameday.warehouse")
        self.process: executor.Child | None = None
        self._own_zygote: Zygote | None = None  # when the context brings none (a part run outside a supervisor)
        self.router: RouterServer | None = None
        self._exposed: tuple[str, int] | None = None
        self._site: str | None = None
        self._log_path: Path | None = None

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        return []  # the child exits with its parent, the zygote, which exits with its own

    def start(self, context: PartContext) -> None:
        self.context, self.log = context, context.log
        env = context.environment
        self._site = site = addresses.warehouse_site(env)
        if site is None:
            return
        directory = context.state_dir / self.name
        directory.mkdir(parents=True, exist_ok=True)
        log_dir = context.log_dir or directory
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = log_dir / "warehouse.log"
        ready = directory / "ready"
        ready.unlink(missing_ok=True)
        inventory = addresses.inventory_address(env, site)
        site_address = addresses.warehouse_address(env, site)[0]
        args = ["--db", str(directory / "inventory.sqlite"), "--listen", context.instance.control_host,
                "--site", site_address, "--inventory", f"{inventory[0]}:{inventory[1]}",
                "--time-scale", str(env.time_scale), "--ready", str(ready)]
        zygote, self._own_zygote = shared_or_own(context.zygote, directory, log_dir, "warehouse zygote", self.log)
        try:
            self.process = zygote.spawn(args, executor.child_environment(), executor.REPO_ROOT, self._log_path,
                                        main=WAREHOUSE_MAIN)
            try:
                until(lambda: self._ready(ready), READY_TIMEOUT_S, "the warehouse process to listen", 0.02)
            except DeadlineExceeded:
                raise StackError(f"the warehouse process did not start within {READY_TIMEOUT_S} s; log {self._log_path}:\n"
                                 f"{executor.tail(self._log_path)}") from None
            port = int(ready.read_text())
            context.require(Network).expose(inventory[0], inventory[1], f"tcp:{context.instance.control_host}:{port}")
            self._exposed = inventory
            self.router = RouterServer((site_address, addresses.ROUTER_PORT), self._set_bfd)
        except BaseException:
            self.stop()
            raise

    def _ready(self, ready: Path) -> bool:
        assert self.process is not None and self._log_path is not None
        if self.process.poll() is not None:
            raise StackError(f"the warehouse process exited with {self.process.returncode}; log {self._log_path}:\n"
                             f"{executor.tail(self._log_path)}")
        return ready.exists() and bool(ready.read_text())

    def _set_bfd(self, link_id: str, enabled: bool) -> None:
        assert self.context is not None
        links = self.context.find(SiteLinks)
        if links is None:
            raise StackError("no fabric part runs: the site links (and their BFD) are not emulated")
        links.set_bfd(link_id, enabled)

    def stop(self) -> None:
        if self.router is not None:
            self.router.stop()
            self.router = None
        if self._exposed is not None and self.context is not None:
            try:
                self.context.require(Network).unexpose(*self._exposed)
            except Exception:  # noqa: BLE001 - the fabric may be stopping first
                pass
            self._exposed = None
        if self.process is not None:
            executor.stop(self.process, grace_s=5.0)
            self.process = None
        if self._own_zygote is not None:
            self._own_zygote.stop()
            self._own_zygote = None

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {}

    def on_change(self, change: Change) -> None:
        pass

    def health(self) -> Health:
        if self._site is not None and (self.process is None or self.process.poll() is not None):
            return Health.of([f"the warehouse process is not running; log {self._log_path}"])
        return Health.of([])

    def status(self) -> Mapping[str, Any]:
        if self.context is None or self._site is None:
            return {"running": False}
        env = self.context.environment
        return {"running": self.process is not None and self.process.poll() is None, "site": self._site,
                "inventory": "%s:%d" % addresses.inventory_address(env, self._site),
                "control": "%s:%d" % addresses.warehouse_address(env, self._site),
                "router": f"{addresses.warehouse_address(env, self._site)[0]}:{addresses.ROUTER_PORT}"}
