"""Locust user classes for a load plan: one class per crowd, one source address per user.

Imports Locust (and so gevent's monkey-patching): only the child process (child.py) and
locustfile.py import this module.
"""
from __future__ import annotations

import itertools
import re
import time
from typing import Any, ClassVar, Iterator

from locust import HttpUser, constant_throughput, task

from base import net
from probes.checkout import Resolver
from probes.load.plan import Crowd, LoadPlan

RESOLVE_S = 10.0  # how long a starting user keeps retrying its first lookup


class CrowdUser(HttpUser):
    abstract = True
    crowd: ClassVar[Crowd]
    plan: ClassVar[LoadPlan]
    numbers: ClassVar[Iterator[int]]

    def on_start(self) -> None:
        target = self.plan.target
        self.client.trust_env = False  # never through a proxy from the environment (the network rule)
        self.source = self.crowd.address(next(self.numbers) % self.crowd.users)
        if self.source is not None:
            adapter = net.SourceAddressAdapter(self.source, pool_connections=1, pool_maxsize=1)
            self.client.mount("http://", adapter)
        self.resolver = (Resolver(target.name, target.dns_server, target.dns_port, self.crowd.subnet)
                         if target.dns_server else None)
        self.paths = itertools.cycle(self.crowd.paths)
        # A user's browser resolves before its first request and its stub resolver retries a lost query:
        # a lookup lost while every user starts at once is retried here, within RESOLVE_S, not counted as a
        # failed request. Later lookups (at the TTL's expiry) are part of the requests they delay.
        deadline = time.monotonic() + RESOLVE_S
        while self.resolver is not None:
            try:
                self.resolver.address()
                break
            except Exception:  # noqa: BLE001 - retried until the deadline, then left to the first request
                if time.monotonic() >= deadline:
                    break

    def context(self) -> dict[str, Any]:
        return {"crowd": self.crowd.name, "source": self.source}

    @task
    def send(self) -> None:
        target, path = self.plan.target, next(self.paths)
        started = time.time()
        try:
            address = self.resolver.address() if self.resolver is not None else target.name
        except Exception as error:  # noqa: BLE001 - a failed lookup is a failed request, recorded as such
            self.environment.events.request.fire(request_type=self.crowd.method, name=path, start_time=started,
                                                 response_time=(time.time() - started) * 1000, response_length=0,
                                                 response=None, context=self.context(), exception=error)
            return
        headers = {"Host": target.name, **dict(self.crowd.headers)}
        with self.client.request(self.crowd.method, f"http://{address}:{target.port}{path}", name=path,
                                 headers=headers, timeout=(self.plan.connect_timeout_s, self.plan.read_timeout_s),
                                 catch_response=True) as response:
            response.success()  # every status is data here; the result's reader judges them


def user_classes(plan: LoadPlan) -> list[type[CrowdUser]]:
    """One concrete class per crowd, with exactly ``users`` users (Locust's fixed_count)."""
    classes = []
    for crowd in plan.crowds:
        name = "Crowd_" + re.sub(r"\W", "_", crowd.name)
        attributes = {"crowd": crowd, "plan": plan, "numbers": itertools.count(), "fixed_count": crowd.users,
                      "wait_time": constant_throughput(crowd.rate_per_user), "abstract": False,
                      "host": f"http://{plan.target.name}:{plan.target.port}"}
        classes.append(type(name, (CrowdUser,), attributes))
    return classes
