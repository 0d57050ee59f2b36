"""How every floor asks for an AWS client: ``clients("ec2", "us-east-1")`` returns a boto3 client.

boto3 ships no types, so a client is ``Any``; naming the factory once keeps that ``Any`` in one place.
"""
from __future__ import annotations

from typing import Any, Callable

ClientFactory = Callable[[str, str], Any]
