"""The checkout instance's contract: which instances are checkout, and what their UserData says.

An instance runs the checkout service when it carries the tag ``gameday:role=checkout``. Its
UserData (RunInstances ``UserData``; boto3 base64-encodes it) is a JSON object, or the builder's boot
script (stack.userdata) that carries one between marker lines:

    {
      "db_endpoint": "orders.xxxx.us-east-1.rds.amazonaws.com",   # or, instead:
      "db_instance_identifier": "orders", "db_region": "us-east-1",  # looked up with DescribeDBInstances
      "db_port": 5432,                  # optional; default: the DB instance's port, else 5432
      "db_name": "postgres",            # optional
      "db_user": "securecart",          # with db_password, or instead:
      "db_password": "...",
      "db_secret_id": "arn:aws:secretsmanager:...",  # a secret whose SecretString is {"username", "password"}
                                        #   (RDS's managed master-user secret format), read in db_region
      "port": 8080,                     # optional; default: the environment's stack.checkout_port
      "catalog_table": "catalog",       # optional: the DynamoDB global table checkout serves products
                                        #   from, read and written in the instance's own Region
      "catalog_admin_secret_id": "securecart/catalog/admin"  # optional: a secret {"token": ...} in
                                        #   db_region; without it the admin endpoint answers 403
    }

Every field is optional: without a database the service runs and answers orders with 503. This is
what a real deployment does (CloudFormation passes !GetAtt DB.Endpoint.Address into UserData, or the
instance reads a secret), so the builder speaks to AWS and the local stack alike.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, fields
from typing import Any

from stack import userdata
from stack.local.ec2.errors import UserDataError

ROLE_TAG_KEY = "gameday:role"
ROLE_TAG_VALUE = "checkout"
_HOSTNAME = re.compile(r"(?=.{1,253}\.?$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?",
                       re.IGNORECASE)


@dataclass(frozen=True)
class CheckoutUserData:
    db_endpoint: str | None = None
    db_instance_identifier: str | None = None
    db_region: str | None = None
    db_port: int | None = None
    db_name: str = "postgres"
    db_user: str | None = None
    db_password: str | None = None
    db_secret_id: str | None = None
    port: int | None = None
    catalog_table: str | None = None
    catalog_admin_secret_id: str | None = None

    @property
    def wants_database(self) -> bool:
        return self.db_endpoint is not None or self.db_instance_identifier is not None

    @classmethod
    def parse(cls, user_data: str | bytes | None, instance_id: str) -> "CheckoutUserData":
        """Decode (base64 as DescribeInstanceAttribute returns it, or plain JSON) and check.

        Raises UserDataError naming the instance, the field and what is allowed.
        """
        if not user_data:
            return cls()
        raw = _script_config(user_data.encode() if isinstance(user_data, str) else user_data, instance_id)
        try:
            document: Any = json.loads(raw)
        except ValueError:
            try:
                decoded = base64.b64decode(raw, validate=True)
            except binascii.Error:
                raise UserDataError(f"{instance_id}: UserData is neither JSON nor base64-encoded JSON") from None
            try:
                document = json.loads(decoded)
            except ValueError as error:
                raise UserDataError(f"{instance_id}: UserData is not valid JSON ({error})") from None
        if not isinstance(document, dict):
            raise UserDataError(f"{instance_id}: UserData must be a JSON object, got {type(document).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(document) - known)
        if unknown:
            raise UserDataError(f"{instance_id}: UserData field {unknown[0]!r} is unknown; allowed: {sorted(known)}")
        for name, value in document.items():
            expected, noun = (int, "an integer") if name in ("db_port", "port") else (str, "a string")
            if value is not None and type(value) is not expected:
                raise UserDataError(f"{instance_id}: UserData {name}={value!r} must be {noun}")
        data = cls(**document)
        data._check(instance_id)
        return data

    def _check(self, instance_id: str) -> None:
        where = f"{instance_id}: UserData"
        if self.db_endpoint is not None and self.db_instance_identifier is not None:
            raise UserDataError(f"{where} names both db_endpoint and db_instance_identifier; give one")
        if self.db_endpoint is not None and not _HOSTNAME.fullmatch(self.db_endpoint):
            raise UserDataError(f"{where} db_endpoint {self.db_endpoint!r} is not a DNS name")
        if self.db_instance_identifier is not None and self.db_region is None:
            raise UserDataError(f"{where} names db_instance_identifier without db_region")
        for name in ("db_port", "port"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 65535:
                raise UserDataError(f"{where} {name}={value} is out of range 1-65535")
        if self.catalog_table is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", self.catalog_table):
            raise UserDataError(f"{where} catalog_table {self.catalog_table!r} is not a DynamoDB table name "
                                "(3-255 characters of A-Z a-z 0-9 _ - .)")
        if self.catalog_admin_secret_id is not None and self.catalog_table is None:
            raise UserDataError(f"{where} names catalog_admin_secret_id without catalog_table")
        if self.wants_database:
            if self.db_secret_id is None and (self.db_user is None or self.db_password is None):
                raise UserDataError(f"{where} names a database but no credentials: give db_user and db_password, "
                                    "or db_secret_id")
            if self.db_secret_id is not None and self.db_password is not None:
                raise UserDataError(f"{where} gives both db_password and db_secret_id; give one")

    def to_json(self) -> str:
        """The UserData a builder passes to RunInstances (only the fields that are set)."""
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)
                           if getattr(self, f.name) is not None and not (f.name == "db_name" and self.db_name == "postgres")})


def _script_config(raw: bytes, instance_id: str) -> bytes:
    """The JSON a builder's boot script (stack.userdata) carries, plain or base64; other user data unchanged."""
    text = raw
    if not raw.lstrip().startswith((b"{", b"#!")):
        try:
            text = base64.b64decode(raw, validate=True)
        except binascii.Error:
            return raw
    if not text.startswith(b"#!"):
        return raw
    config = userdata.config_of(text.decode(errors="replace"))
    if config is None:
        raise UserDataError(f"{instance_id}: UserData is a script without the checkout configuration "
                            f"(the lines between <<'{userdata.CONFIG_MARKER}' and {userdata.CONFIG_MARKER})")
    return config.encode()


def is_checkout(tags: list[dict[str, str]] | None) -> bool:
    return any(t.get("Key") == ROLE_TAG_KEY and t.get("Value") == ROLE_TAG_VALUE for t in tags or ())
