"""What the EC2 part reads and asks through the local endpoint's AWS API, as a user would.

An instance's description and UserData (EC2), its DB instance's endpoint (RDS, waiting while the
instance is being created) and password (Secrets Manager, in RDS's managed-secret format), and
StopInstances for an instance whose checkout cannot serve.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stack.local.ec2.contract import CheckoutUserData
from stack.local.ec2.errors import Ec2PartError, UserDataError
from stack.local.ec2.process import CatalogTarget, DatabaseTarget
from stack.local.part import PartContext

DB_ENDPOINT_WAIT_S = 30.0


class Ec2Lookup:
    def __init__(self, context: PartContext, directory: Path, stopping: threading.Event, log: logging.Logger) -> None:
        """``directory``: where password files are written (0600); ``stopping`` ends a wait for an endpoint."""
        self._context = context
        self.directory = directory
        self._stopping = stopping
        self.log = log

    def _client(self, service: str, region: str) -> Any:
        return self._context.client(service, region)

    def describe(self, region: str, instance_ids: tuple[str, ...]) -> list[Mapping[str, Any]]:
        ec2 = self._client("ec2", region)
        if instance_ids:
            pages = ec2.get_paginator("describe_instances").paginate(InstanceIds=list(instance_ids))
        else:
            pages = ec2.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "tag:gameday:role", "Values": ["checkout"]}])
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def user_data(self, region: str, instance_id: str) -> CheckoutUserData:
        attribute = self._client("ec2", region).describe_instance_attribute(InstanceId=instance_id,
                                                                             Attribute="userData")
        return CheckoutUserData.parse(attribute.get("UserData", {}).get("Value"), instance_id)

    def database(self, region: str, instance_id: str, data: CheckoutUserData) -> DatabaseTarget | None:
        if not data.wants_database:
            return None
        db_region = data.db_region or region
        endpoint, port = data.db_endpoint, data.db_port
        if endpoint is None:
            endpoint, found_port = self._db_endpoint(db_region, str(data.db_instance_identifier), instance_id)
            port = port or found_port
        user, password = data.db_user, data.db_password
        if data.db_secret_id is not None:
            secret = self._client("secretsmanager", db_region).get_secret_value(SecretId=data.db_secret_id)
            try:
                document = json.loads(secret["SecretString"])
                user, password = document.get("username", user), document["password"]
            except (KeyError, TypeError, ValueError):
                raise UserDataError(f"{instance_id}: secret {data.db_secret_id} is not a JSON object with "
                                    "username and password (RDS's managed-secret format)") from None
        password_file = self.directory / f"{instance_id}.pw"
        password_file.touch(mode=0o600)
        password_file.write_text(str(password))
        return DatabaseTarget(str(endpoint), port or 5432, data.db_name, str(user), password_file)

    def catalog(self, region: str, instance_id: str, data: CheckoutUserData) -> CatalogTarget | None:
        """The catalog table, reached at the local endpoint (an instance reaches DynamoDB's public endpoint), and
        the admin token read from its secret into a 0600 file."""
        if data.catalog_table is None:
            return None
        token_file = None
        if data.catalog_admin_secret_id is not None:
            secret = self._client("secretsmanager", data.db_region or region).get_secret_value(
                SecretId=data.catalog_admin_secret_id)
            try:
                token = json.loads(secret["SecretString"])["token"]
            except (KeyError, TypeError, ValueError):
                raise UserDataError(f"{instance_id}: secret {data.catalog_admin_secret_id} is not a JSON object "
                                    'with a "token"') from None
            token_file = self.directory / f"{instance_id}.admin"
            token_file.touch(mode=0o600)
            token_file.write_text(str(token))
        return CatalogTarget(data.catalog_table, self._context.instance.aws_endpoint, token_file)

    def _db_endpoint(self, region: str, identifier: str, instance_id: str) -> tuple[str, int]:
        rds = self._client("rds", region)
        deadline = time.monotonic() + DB_ENDPOINT_WAIT_S
        while True:
            try:
                db = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "DBInstanceNotFound":
                    raise UserDataError(f"{instance_id}: UserData names DB instance {identifier!r}, which does not "
                                        f"exist in {region}") from None
                raise
            endpoint = db.get("Endpoint") or {}
            if endpoint.get("Address"):
                return endpoint["Address"], int(endpoint.get("Port") or 5432)
            # RDS shows no endpoint while the instance is being created.
            if time.monotonic() > deadline or self._stopping.is_set():
                raise Ec2PartError(f"{instance_id}: DB instance {identifier} in {region} had no endpoint within "
                                   f"{DB_ENDPOINT_WAIT_S:g} s (status {db.get('DBInstanceStatus')})")
            time.sleep(0.2)

    def stop_instance(self, region: str, instance_id: str, reason: str) -> None:
        # An instance that serves nothing must not show `running`; the resulting StopInstances
        # notification finds no process and changes nothing else.
        try:
            self._client("ec2", region).stop_instances(InstanceIds=[instance_id])
        except (ClientError, BotoCoreError) as error:
            self.log.error("could not stop %s after '%s': %s", instance_id, reason, error)
