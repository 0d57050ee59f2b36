"""What a command acts on: the local stack instance, or a real account, with boto3 clients aimed at it."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from base.clients import ClientFactory
from environments.model import AwsEnvironment, LocalEnvironment
from base.retries import retries

STACK_TAG = ("gameday:stack", "securecart")


@dataclass(frozen=True)
class Target:
    name: str  # the journal's key: "local-<instance>" or "aws-<account id>"
    regions: list[str]
    clients: ClientFactory
    stack_tag: tuple[str, str]
    nameserver: tuple[str, int] | None = None  # the DNS server clients resolve the stack's names at (None: the system's)


def for_environment(environment: LocalEnvironment | AwsEnvironment, instance: int | None = None) -> Target:
    if isinstance(environment, LocalEnvironment):
        from stack.local.instance import Instance
        from stack.local.part import local_session

        local = Instance(instance or 0, environment)
        session = local_session()
        endpoint: str | None = local.aws_endpoint
        name = f"local-{local.number}"
        nameserver: tuple[str, int] | None = (local.control_host, local.dns_port)
    else:
        session = boto3.session.Session(profile_name=environment.profile)
        endpoint = None
        name = f"aws-{environment.account_id}"
        nameserver = None
    config = Config(retries=retries(4))

    @functools.cache
    def clients(service: str, region: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint, config=config)

    tag = STACK_TAG if isinstance(environment, LocalEnvironment) else (environment.discovery.tag_key, environment.discovery.tag_value)
    return Target(name, list(environment.regions), clients, tag, nameserver)
