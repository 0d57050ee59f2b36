"""The checkout instances' user data: a shell script that cloud-init runs once, at first boot, on Amazon Linux 2023.

It writes the checkout configuration (the JSON object of ``stack.local.ec2.contract``: the writer's DNS
name, port, Region, database name and the Secrets Manager secret) to ``/etc/securecart/checkout.json``,
installs Python 3.11 and the gameday package (which carries the checkout service) into a virtualenv, and
starts checkout as a systemd service through ``python -m stack.ec2boot``, which reads the instance's
identity from the instance metadata service and the password from the secret.

The configuration sits between two marker lines, so the local stack's EC2 part reads the same user data
(``config_of``) and starts the same checkout with the same keys: one build, two clouds.

EC2 limits user data to 16 KB in raw form, before base64 (the EC2 user guide, "Work with instance user
data"); ``render`` refuses anything larger.
"""
from __future__ import annotations

import json
import shlex
from typing import Any

from base.errors import BuildError

MAX_BYTES = 16 * 1024  # raw, before base64
CONFIG_MARKER = "GAMEDAY_CHECKOUT_CONFIG"
CONFIG_PATH = "/etc/securecart/checkout.json"
PREFIX = "/opt/securecart"
SERVICE = "securecart-checkout"
# What pip installs when the builder is given no package: the local stack never runs the script, so this only
# shows where the source goes (a real build refuses to run without one: stack.builder).
DEFAULT_PACKAGE = "gameday[local]"

_SCRIPT = """#!/bin/bash
# SecureCart checkout on Amazon Linux 2023, written by gameday's reference builder.
# cloud-init runs this once, as root, at first boot; its output goes to /var/log/cloud-init-output.log.
set -euo pipefail
install -d -m 0755 /etc/securecart {prefix}
# The checkout configuration (stack/local/ec2/contract.py): the local stack reads the same lines.
cat > {config_path} <<'{marker}'
{config}
{marker}
dnf install -y python3.11 python3.11-pip
python3.11 -m venv {prefix}/venv
{prefix}/venv/bin/pip install --quiet {package}
cat > /etc/systemd/system/{service}.service <<'GAMEDAY_CHECKOUT_UNIT'
[Unit]
Description=SecureCart checkout (gameday reference stack)
Wants=network-online.target
After=network-online.target

[Service]
ExecStart={prefix}/venv/bin/python -m stack.ec2boot {config_path}
Restart=always
RestartSec=2
User=root

[Install]
WantedBy=multi-user.target
GAMEDAY_CHECKOUT_UNIT
systemctl daemon-reload
systemctl enable --now {service}.service
"""


def render(config: dict[str, Any], package: str | None = None) -> str:
    """The user data for one checkout instance. Raises BuildError when it exceeds EC2's 16 KB."""
    document = json.dumps(config, sort_keys=True)
    if CONFIG_MARKER in document:
        raise BuildError(f"the checkout configuration may not contain {CONFIG_MARKER!r}: {document}")
    script = _SCRIPT.format(prefix=PREFIX, config_path=CONFIG_PATH, marker=CONFIG_MARKER, config=document,
                            package=shlex.quote(package or DEFAULT_PACKAGE), service=SERVICE)
    size = len(script.encode())
    if size > MAX_BYTES:
        raise BuildError(f"the checkout user data is {size} bytes; EC2 allows {MAX_BYTES} bytes before base64")
    return script


def config_of(script: str) -> str | None:
    """The configuration JSON a rendered script carries, or None when ``script`` is not such a script."""
    if not script.startswith("#!"):
        return None
    lines = script.splitlines()
    opening = f"<<'{CONFIG_MARKER}'"
    for index, line in enumerate(lines):
        if line.rstrip().endswith(opening):
            try:
                end = lines.index(CONFIG_MARKER, index + 1)
            except ValueError:
                return None
            return "\n".join(lines[index + 1:end])
    return None
