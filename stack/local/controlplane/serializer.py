"""moto's response serializer, without working out the same member names again for every value.

moto 5 writes every response by walking the operation's output shape. For each member of each
structure it builds a context, makes six alias providers and asks each which other names the member
may have on the object it reads (``XFormedAttributePicker``: ``DBInstanceIdentifier``, then
``db_instance_identifier``, ``identifier``, ...). Those names depend only on the object's type, the
member's name and its shape, never on the value, yet moto worked them out for every member of every
value: a DynamoDB ``Scan`` of the five catalog items asks about 750 times (each item attribute is a
structure of ten members), which was most of the supervisor's time for checkout's ``GET /products``.

Here they are worked out once per (type, member) and kept on the shape, so they live as long as the
model does; a value read off a plain dict is then one lookup per name. What is picked, and so every
response, is unchanged: the names are tried in moto's order and the first one present wins, and the
response transformers apply as before. An object whose ``Meta`` (moto's explicit aliases) is its own
rather than its class's still goes through moto's own picking, as does any picker but moto's two.
"""
from __future__ import annotations

from functools import cache
from typing import Any

# per shape: {(the object's type, the member's name, its parent): (the names to try in order, whether one is dotted)}
_NAMES = "_gameday_picked_names"


@cache
def install() -> None:
    """Replace ``ResponseSerializer.get_value`` with the remembering one (once per process)."""
    from moto.core import serialize
    from moto.core.constants import MISSING as missing  # moto's "no such attribute" marker
    from moto.core.utils import get_value as moto_get_value

    original = serialize.ResponseSerializer.get_value
    pickers = (serialize.AttributePicker, serialize.XFormedAttributePicker)

    def names(serializer: Any, value: Any, key: str, shape: Any) -> tuple[tuple[str, ...], bool]:
        known = shape.__dict__.get(_NAMES)
        if known is None:
            known = shape.__dict__[_NAMES] = {}  # botocore shapes take attributes; moto sets ``parent`` on them too
        # moto sets a member's parent just before picking it; aliases read it, so it is part of the key
        remembered = (type(value), key, id(shape.__dict__.get("parent")))
        found: tuple[tuple[str, ...], bool] | None = known.get(remembered)
        if found is None:
            context = serialize.AttributePickerContext(obj=value, key=key, shape=shape,
                                                       operation_model=serializer.operation_model,
                                                       service_model=serializer.operation_model.service_model)
            tried = tuple(serializer._value_picker.get_possible_keys(context))
            found = known[remembered] = (tried, any("." in name for name in tried))
        return found

    def get_value(self: Any, value: Any, key: str, shape: Any) -> Any:
        picker = self._value_picker
        if type(picker) not in pickers or shape is None or "Meta" in getattr(value, "__dict__", ()):
            return original(self, value, key, shape)
        tried, dotted = names(self, value, key, shape)
        picked = None
        if type(value) is dict and not dotted:  # a dotted name is a path for moto to walk
            for name in tried:
                if name in value:
                    picked = value[name]
                    break
        else:
            for name in tried:
                found = moto_get_value(value, name, missing)
                if found is not missing:
                    picked = found
                    break
        if picker.response_transformers:
            key_path = f"{'.'.join(self.path)}.{key}"
            for suffix, transform in picker.response_transformers.items():
                if key_path.endswith(suffix):
                    return transform(picked)
        return picked

    get_value.moto_get_value = original  # type: ignore[attr-defined]  # what tests compare against
    serialize.ResponseSerializer.get_value = get_value  # type: ignore[method-assign]  # fixing moto in place
