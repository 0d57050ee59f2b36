"""Start checkout on a real EC2 instance: ``python -m stack.ec2boot /etc/securecart/checkout.json``.

The builder's user data (stack.userdata) writes the configuration file and runs this under systemd. It
reads the same keys the local stack's EC2 part reads (stack.local.ec2.contract), asks the instance
metadata service (IMDSv2) who and where the instance is, reads the master password from the Secrets
Manager secret with the instance's role, and replaces itself with the checkout service: the same
program, with the same options, that the local stack starts for each instance.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from stack.local.ec2.contract import CheckoutUserData

IMDS = "http://169.254.169.254"  # the instance metadata service, as every EC2 instance sees it
AMAZON_DNS = "169.254.169.253:53"  # the VPC's Amazon DNS server, reachable from every instance in the VPC
DEFAULT_PORT = 8080
PASSWORD_FILE = Path("/run/securecart/db-password")


@dataclass(frozen=True)
class Identity:
    instance_id: str
    region: str
    availability_zone: str


def metadata(opener: Callable[[urllib.request.Request], Any] = urllib.request.urlopen) -> Identity:
    """The instance's id, Region and AZ through IMDSv2 (a session token first, as IMDSv2-only instances require)."""
    token_request = urllib.request.Request(f"{IMDS}/latest/api/token", method="PUT",
                                           headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"})
    with opener(token_request) as answer:
        token = answer.read().decode()

    def read(path: str) -> str:
        request = urllib.request.Request(f"{IMDS}/latest/meta-data/{path}", headers={"X-aws-ec2-metadata-token": token})
        with opener(request) as answer:
            return str(answer.read().decode()).strip()

    return Identity(read("instance-id"), read("placement/region"), read("placement/availability-zone"))


def credentials(config: CheckoutUserData, region: str, secrets: Callable[[str], Any]) -> tuple[str, str]:
    """(user, password): from the secret (RDS's managed-secret format) when named, else from the file."""
    if config.db_secret_id is None:
        return str(config.db_user), str(config.db_password)
    document = json.loads(secrets(config.db_region or region).get_secret_value(SecretId=config.db_secret_id)["SecretString"])
    return str(document.get("username", config.db_user)), str(document["password"])


def checkout_argv(config: CheckoutUserData, identity: Identity, user: str, password_file: Path,
                  python: str = sys.executable) -> list[str]:
    """The checkout service's command line, as stack.local.ec2.process builds it locally, listening on every address."""
    argv = [python, "-m", "stack.local.ec2.checkout", "--listen", f"0.0.0.0:{config.port or DEFAULT_PORT}",
            "--instance-id", identity.instance_id, "--region", identity.region, "--az", identity.availability_zone,
            "--dns", AMAZON_DNS]
    if config.db_endpoint:
        argv += ["--db-endpoint", config.db_endpoint, "--db-port", str(config.db_port or 5432), "--db-name",
                 config.db_name, "--db-user", user, "--db-password-file", str(password_file)]
    return argv


def main(args: Sequence[str] | None = None) -> NoReturn:
    import boto3

    path = Path((list(args) if args is not None else sys.argv[1:] or ["/etc/securecart/checkout.json"])[0])
    identity = metadata()
    config = CheckoutUserData.parse(path.read_text(), identity.instance_id)
    if config.db_instance_identifier is not None:
        rds = boto3.client("rds", region_name=config.db_region or identity.region)
        found = rds.describe_db_instances(DBInstanceIdentifier=config.db_instance_identifier)["DBInstances"][0]
        config = CheckoutUserData(**{**config.__dict__, "db_endpoint": found["Endpoint"]["Address"],
                                     "db_instance_identifier": None})
    user, password = ("", "")
    if config.wants_database:
        user, password = credentials(config, identity.region, lambda region: boto3.client("secretsmanager",
                                                                                          region_name=region))
        PASSWORD_FILE.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        PASSWORD_FILE.touch(mode=0o600)
        PASSWORD_FILE.write_text(password)
    argv = checkout_argv(config, identity, user, PASSWORD_FILE)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
