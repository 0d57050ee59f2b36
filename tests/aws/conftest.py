"""The real-account smoke suite's fixtures: skip with the reason unless the credentials reach the allowlisted
account; then find SecureCart's resources (read-only) by the environment's tags."""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from environments.model import AwsEnvironment
from faults.journal import Journal
from tests.aws.discovery import SecureCart, find


@dataclass(frozen=True)
class Account:
    environment: AwsEnvironment
    account_id: str
    caller_arn: str


@pytest.fixture(scope="session")
def account(environment: Any, aws_session: Any) -> Account:
    """The real account, or a skip that says why not."""
    if not isinstance(environment, AwsEnvironment):
        pytest.skip(f"requires_aws: environment {environment.name} is {environment.kind}; run with --env <aws environment>")
    if aws_session.get_credentials() is None:
        pytest.skip(f"requires_aws: no AWS credentials (profile {environment.profile or 'default chain'})")
    try:
        identity = aws_session.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        pytest.skip(f"requires_aws: the credentials do not work: {error}")
    if identity["Account"] != environment.account_id:
        pytest.skip(f"requires_aws: the credentials are for account {identity['Account']}; environment "
                    f"{environment.name} allowlists {environment.account_id}")
    return Account(environment, identity["Account"], identity["Arn"])


@pytest.fixture
def clients(account: Account, aws_client: Callable[[str, str | None], Any]) -> Callable[[str, str], Any]:
    return lambda service, region: aws_client(service, region)


@pytest.fixture(scope="session")
def securecart(account: Account, aws_client: Callable[[str, str | None], Any]) -> SecureCart:
    found = find(lambda service, region: aws_client(service, region), account.environment)
    if found is None:
        pytest.skip(f"requires_aws: no hosted zone {account.environment.stack.zone} in account {account.account_id}; "
                    f"build the stack first (docs/real-aws.md)")
    return found


@pytest.fixture(scope="session")
def name_server(securecart: SecureCart) -> str:
    """An IPv4 address of one of the zone's Route 53 name servers: probes ask the authority, not a resolver."""
    return socket.gethostbyname(securecart.name_servers[0])


@pytest.fixture
def journal(account: Account) -> Journal:
    return Journal(f"aws-{account.account_id}")
