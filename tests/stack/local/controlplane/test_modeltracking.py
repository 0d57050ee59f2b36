"""A model object the control plane's backends let go of is freed: moto no longer keeps every one it made."""
from __future__ import annotations

import inspect
import weakref

from moto.cloudwatch.models import MetricDatum
from moto.core.model_instances import model_data
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.s3.models import FakeKey

from stack.local.controlplane import modeltracking
from stack.local.endpoint import AwsEndpoint


def test_a_model_object_nothing_holds_is_freed_once_a_control_plane_runs(edge: AwsEndpoint) -> None:
    datum = MetricDatum(namespace="Test", name="Latency", value=1.0, dimensions=[], timestamp=None)
    item = Item(DynamoType({"S": "order-1"}), None, {"pk": {"S": "order-1"}})
    dropped = [weakref.ref(datum), weakref.ref(item)]
    del datum, item  # what a backend does when retention drops a datum or a write replaces an item
    assert [ref() for ref in dropped] == [None, None]
    assert not any(getattr(model, "instances_tracked", None) for model in model_data["cloudwatch"].values())


def test_s3_keys_stay_tracked_for_moto_s_reset_and_stop_is_idempotent(edge: AwsEndpoint) -> None:
    key = FakeKey("object", b"body", account_id="123456789012", region_name="us-east-1")
    try:
        modeltracking.stop()  # again: the control plane already stopped tracking, so the lists are kept
        assert key in FakeKey.instances_tracked  # S3Backend.reset closes each key's file through this list
    finally:
        key.dispose()
        FakeKey.instances_tracked.remove(key)


def test_moto_s_new_does_nothing_but_make_and_track_the_object() -> None:
    # stop() replaces BaseModel.__new__ with its body minus the append. If this fails after a moto upgrade,
    # read moto's new BaseModel.__new__ and carry whatever else it does into modeltracking._new.
    body = [line.strip() for line in inspect.getsource(modeltracking._moto_new).splitlines()]
    statements = body[body.index(') -> "BaseModel":') + 1:]
    assert statements == ["instance = super().__new__(cls)", "cls.instances_tracked.append(instance)  # type: ignore[attr-defined]",
                          "return instance"]
