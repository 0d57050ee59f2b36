"""moto's list of every model object it ever made, turned off for a long-lived stack.

moto's ``BaseModel.__new__`` appends each new model object to a list on its class (``instances_tracked``)
and never removes it: only resetting a mock (``reset_model_data``) empties the lists. The lists feed moto's
server dashboard (``/moto-api/data.json``) and let the S3 backend's reset close the files behind its keys.
In the local stack, which runs for hours and is never reset, they keep alive every object a backend has
let go of, for as long as the stack runs: every raw CloudWatch datum retention merged into its minute (an
idle built stack stores about 4,000 a minute; after 39 minutes the lists held 152,000 where the store kept
67,500), every DynamoDB item a write replaced, every deleted resource.

``stop()`` makes new model objects untracked, except S3's keys and multipart uploads, whose reset still
needs them (their files are closed there), and empties what the lists hold (the backends keep what is
still in use). What moto's dashboard lists is the one thing given up; the local stack does not serve it.
"""
from __future__ import annotations

from typing import Any

from moto.core.common_models import BaseModel
from moto.core.model_instances import reset_model_data

# Models moto's own code walks through ``instances_tracked``: S3Backend.reset disposes of them.
STILL_TRACKED = frozenset({("moto.s3.models", "FakeKey"), ("moto.s3.models", "FakeMultipart")})

_moto_new = BaseModel.__new__


def _new(cls: type[BaseModel], *args: Any, **kwargs: Any) -> Any:
    if (cls.__module__, cls.__name__) in STILL_TRACKED:
        return _moto_new(cls, *args, **kwargs)
    return super(BaseModel, cls).__new__(cls)  # what moto's __new__ does, without the append


def stop() -> None:
    """From now on, keep no model object alive for the dashboard (idempotent)."""
    if BaseModel.__new__ is not _new:
        BaseModel.__new__ = _new  # type: ignore[method-assign]
        reset_model_data()
