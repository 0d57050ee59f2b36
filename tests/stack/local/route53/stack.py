"""A stand-in for the local stack around one Route53Part: moto's server as the API, and the notify hook.

The lead's control plane will call ``on_change`` after every successful mutating call; until then this
harness does the same from a botocore ``after-call`` hook, with the real response body.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import botocore.parsers
import botocore.session
import requests
from moto.server import ThreadedMotoServer

from environments.model import LocalEnvironment, LocalSettings
from stack.local.instance import Instance
from stack.local.part import ApiRequest, ApiResponse, Change, PartContext
from stack.local.route53.part import Route53Part
from stack.local.route53.probe import Probe

from .served import environment

READ_ONLY = ("Get", "List", "Test")


def instance_number() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return 1 + int(worker.removeprefix("gw") or 0) % 9


def free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    part: Route53Part
    context: PartContext
    client: Any
    endpoint_url: str

    @property
    def instance(self) -> Instance:
        return self.context.instance

    @property
    def environment(self) -> LocalEnvironment:
        return self.context.environment

    def answer(self, operation: str, path: str, **params: Any) -> dict[str, Any]:
        """Call the part's answer for ``operation`` as the control plane would, parsed as boto3 would."""
        request = ApiRequest("route53", operation, "us-east-1", params, path)
        response: ApiResponse = self.part.answers()[("route53", operation)](request)
        model = botocore.session.get_session().get_service_model("route53").operation_model(operation)
        parsed: dict[str, Any] = botocore.parsers.create_parser("rest-xml").parse(
            {"status_code": response.status, "headers": dict(response.headers), "body": response.body},
            model.output_shape)
        parsed["_status"] = response.status
        return parsed


@contextlib.contextmanager
def moto_server() -> Iterator[int]:
    """moto's server on this instance's control host; yields its port. Its state is process-global."""
    host = f"127.0.{instance_number()}.1"
    port = free_port(host)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        yield port
    finally:
        server.stop()


@contextlib.contextmanager
def running(tmp_path: Path, moto_port: int, time_scale: float = 0.1, probe: Probe | None = None,
            notify: bool = True) -> Iterator[Stack]:
    """A started Route53Part over a freshly reset moto."""
    number = instance_number()
    host = f"127.0.{number}.1"
    settings = LocalSettings(aws_endpoint_port=moto_port, dns_port=free_port(host, socket.SOCK_DGRAM))
    env = environment().model_copy(update={"local": settings, "time_scale": time_scale})
    instance = Instance(number, env)
    part = Route53Part(probe=probe)
    context = PartContext(instance, instance.resolved(), tmp_path, logging.getLogger("test-route53-part"))
    try:
        requests.post(f"{instance.aws_endpoint}/moto-api/reset", timeout=5).raise_for_status()
        client = context.client("route53")
        if notify:
            def hook(http_response: Any, model: Any, **_: Any) -> None:
                if http_response.status_code < 300 and not model.name.startswith(READ_ONLY):
                    path = requests.utils.urlparse(http_response.url).path
                    part.on_change(Change(ApiRequest("route53", model.name, "us-east-1", {}, path),
                                          http_response.content))
            client.meta.events.register("after-call.route53", hook)
        part.start(context)
        yield Stack(part, context, client, instance.aws_endpoint)
    finally:
        part.stop()
