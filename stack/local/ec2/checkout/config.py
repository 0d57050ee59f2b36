"""The checkout process's settings, from its command line (the password and the admin token come from files).

The catalog settings (how an instance's UserData keys map to them: stack.local.ec2.contract):
- ``--catalog-table NAME`` (UserData ``catalog_table``): the DynamoDB global table products are read from
  and written to, in the instance's own Region; without it checkout serves the built-in seed catalog.
- ``--catalog-endpoint URL``: DynamoDB's endpoint; default ``https://dynamodb.<region>.amazonaws.com``
  (on EC2); the local stack passes its own endpoint. Credentials: AWS_ACCESS_KEY_ID /
  AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN] in the environment, else the instance profile (IMDSv2).
- ``--admin-token-file PATH`` (UserData ``catalog_admin_secret_id``, a secret ``{"token": ...}`` read into
  the file): the bearer token PUT /admin/products/{sku} requires; without it the admin endpoint answers 403.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from stack.local.ec2.checkout import tracing
from stack.local.ec2.checkout.orders import Placement
from stack.local.ec2.checkout.pool import DatabaseSettings
from stack.local.ec2.checkout.tracing import TracingSettings
from stack.local.ec2.errors import CheckoutError

INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
OTLP_URL = re.compile(r"https?://[^/\s]+/\S*")


class ConfigError(CheckoutError):
    """The checkout service's command line is not valid."""


@dataclass(frozen=True)
class Listen:
    """A Unix socket path (what the fabric forwards to) or host:port (tests, benchmarks)."""

    uds: Path | None = None
    host: str | None = None
    port: int | None = None

    def describe(self) -> str:
        return f"unix:{self.uds}" if self.uds is not None else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class CheckoutConfig:
    placement: Placement
    listen: Listen
    database: DatabaseSettings | None  # None: no database configured; orders answer 503
    dns_host: str
    dns_port: int
    dns_timeout_s: float = 1.0
    request_timeout_s: float = 6.0
    health_timeout_s: float = 1.0
    exit_with_parent: bool = False
    metrics_endpoint: str | None = None  # where request latency is published (CloudWatch PutMetricData); None: not
    metrics_flush_s: float = 0.5
    otlp_endpoint: str | None = None  # where spans go (OTLP/HTTP); None: tracing off
    untraced_urls: str = tracing.DEFAULT_UNTRACED  # requests that make no span (tracing.url_filter)

    @property
    def tracing(self) -> TracingSettings:
        p = self.placement
        return TracingSettings(self.otlp_endpoint, p.instance_id, p.region, p.availability_zone)
    catalog_table: str | None = None
    catalog_endpoint: str = ""
    admin_token: str | None = None


def _host_port(value: str, what: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        ipaddress.IPv4Address(host)
        number = int(port)
    except ValueError:
        raise ConfigError(f"{what}: {value!r} is not an IPv4 host:port such as 127.0.0.1:10053") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"{what}: port {number} is out of range 0-65535")
    return host, number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stack.local.ec2.checkout",
                                description="SecureCart's checkout service on one EC2 instance")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--uds", type=Path, help="listen on this Unix socket (the fabric forwards to it)")
    where.add_argument("--listen", help="listen on host:port instead (tests and benchmarks)")
    p.add_argument("--instance-id", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--az", required=True)
    p.add_argument("--db-endpoint", help="the RDS endpoint's DNS name; without it orders answer 503")
    p.add_argument("--db-port", type=int, default=5432)
    p.add_argument("--db-name", default="postgres")
    p.add_argument("--db-user", default="postgres")
    p.add_argument("--db-password-file", type=Path, help="file holding the password (kept off the command line)")
    p.add_argument("--dns", required=True, help="host:port of the DNS server that serves the endpoint")
    p.add_argument("--source-address", help="bind database connections to this (the instance's private) address")
    p.add_argument("--connect-timeout", type=float, default=2.0, help="database connect timeout, s")
    p.add_argument("--statement-timeout", type=float, default=5.0, help="database statement timeout, s")
    p.add_argument("--request-timeout", type=float, default=6.0, help="deadline of one API request, s")
    p.add_argument("--health-timeout", type=float, default=1.0, help="deadline of /health/deep, s")
    p.add_argument("--pool-size", type=int, default=8)
    p.add_argument("--catalog-table", help="DynamoDB table serving the catalog in this Region (default: the seed catalog)")
    p.add_argument("--catalog-endpoint", help="DynamoDB endpoint URL (default: https://dynamodb.<region>.amazonaws.com)")
    p.add_argument("--admin-token-file", type=Path, help="file holding the admin endpoint's bearer token")
    p.add_argument("--exit-with-parent", action="store_true", help="exit when the supervisor that started us dies")
    p.add_argument("--metrics-endpoint", help="publish request latency to this CloudWatch endpoint (http://host:port)")
    p.add_argument("--metrics-flush-s", type=float, default=0.5, help="seconds between two metric batches")
    p.add_argument("--otlp-endpoint", help="export spans by OTLP/HTTP to this URL (http://host:port/v1/traces); "
                                           "without it, or with GAMEDAY_TRACING=off, tracing is off")
    p.add_argument("--untraced-urls", metavar="REGEXES",
                   help="comma-separated regular expressions: a request whose URL (scheme://host/path?query) one "
                        f"matches makes no span (default: ${tracing.EXCLUDED_URLS_VARIABLE}, else "
                        f"{tracing.DEFAULT_UNTRACED!r}, the shallow health check; '' traces every request)")
    return p


def parse(argv: Sequence[str] | None = None) -> CheckoutConfig:
    """Parse and check the command line. Raises ConfigError (or SystemExit from argparse for usage)."""
    args = parser().parse_args(argv)
    if not INSTANCE_ID.fullmatch(args.instance_id):
        raise ConfigError(f"--instance-id: {args.instance_id!r} is not an EC2 instance id such as i-0123456789abcdef0")
    if not args.az.startswith(args.region):
        raise ConfigError(f"--az: {args.az!r} is not in Region {args.region!r}")
    for name in ("connect_timeout", "statement_timeout", "request_timeout", "health_timeout"):
        if getattr(args, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')}: {getattr(args, name)} must be > 0")
    if args.metrics_flush_s <= 0:
        raise ConfigError(f"--metrics-flush-s: {args.metrics_flush_s} must be > 0")
    if args.pool_size < 1:
        raise ConfigError(f"--pool-size: {args.pool_size} must be >= 1")
    dns_host, dns_port = _host_port(args.dns, "--dns")
    if args.uds is not None:
        listen = Listen(uds=args.uds)
    else:
        host, port = _host_port(args.listen, "--listen")
        listen = Listen(host=host, port=port)
    if args.source_address is not None:
        try:
            ipaddress.IPv4Address(args.source_address)
        except ValueError:
            raise ConfigError(f"--source-address: {args.source_address!r} is not an IPv4 address") from None
    if args.otlp_endpoint is not None and not OTLP_URL.fullmatch(args.otlp_endpoint):
        raise ConfigError(f"--otlp-endpoint: {args.otlp_endpoint!r} is not an http(s) URL such as "
                          "http://127.0.0.1:4566/v1/traces")
    untraced, named = args.untraced_urls, "--untraced-urls"
    if untraced is None:
        untraced = os.environ.get(tracing.EXCLUDED_URLS_VARIABLE, tracing.DEFAULT_UNTRACED)
        named = tracing.EXCLUDED_URLS_VARIABLE
    try:
        tracing.url_filter(untraced)
    except re.error as error:
        raise ConfigError(f"{named}: {untraced!r} is not comma-separated regular expressions ({error}); "
                          f"for example {tracing.DEFAULT_UNTRACED!r}") from None
    database = None
    if args.db_endpoint:
        password = ""
        if args.db_password_file is not None:
            try:
                password = args.db_password_file.read_text().rstrip("\n")
            except OSError as error:
                raise ConfigError(f"--db-password-file: cannot read {args.db_password_file}: {error}") from None
        database = DatabaseSettings(
            endpoint=args.db_endpoint, port=args.db_port, user=args.db_user, password=password,
            database=args.db_name, application_name=f"checkout-{args.instance_id}",
            source_address=args.source_address, connect_timeout_s=args.connect_timeout,
            statement_timeout_s=args.statement_timeout, pool_size=args.pool_size,
        )
    catalog_endpoint = args.catalog_endpoint or f"https://dynamodb.{args.region}.amazonaws.com"
    if not re.fullmatch(r"https?://[^/\s]+/?", catalog_endpoint):
        raise ConfigError(f"--catalog-endpoint: {catalog_endpoint!r} is not an http(s) URL such as "
                          "https://dynamodb.us-east-1.amazonaws.com")
    if args.catalog_table is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", args.catalog_table):
        raise ConfigError(f"--catalog-table: {args.catalog_table!r} is not a DynamoDB table name "
                          "(3-255 characters of A-Z a-z 0-9 _ - .)")
    admin_token = None
    if args.admin_token_file is not None:
        if args.catalog_table is None:
            raise ConfigError("--admin-token-file needs --catalog-table: the seed catalog cannot be written")
        try:
            admin_token = args.admin_token_file.read_text().strip()
        except OSError as error:
            raise ConfigError(f"--admin-token-file: cannot read {args.admin_token_file}: {error}") from None
        if len(admin_token) < 16:
            raise ConfigError(f"--admin-token-file: the token in {args.admin_token_file} has {len(admin_token)} "
                              "characters; at least 16 are required")
    return CheckoutConfig(
        placement=Placement(args.instance_id, args.region, args.az), listen=listen, database=database,
        dns_host=dns_host, dns_port=dns_port, request_timeout_s=args.request_timeout,
        health_timeout_s=args.health_timeout, exit_with_parent=args.exit_with_parent,
        metrics_endpoint=args.metrics_endpoint, metrics_flush_s=args.metrics_flush_s,
        otlp_endpoint=args.otlp_endpoint, untraced_urls=untraced,
        catalog_table=args.catalog_table, catalog_endpoint=catalog_endpoint, admin_token=admin_token,
    )
