"""Load the parts, order them by their services, and start each with its own context.

A part is named by "module:Class"; the class declares ``provides`` and ``requires`` (see
stack.local.part). Start order follows from those alone (stack.local.services.start_order), never
from the order the parts are listed in.
"""
from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from base.errors import StackError
from stack.local.instance import Instance
from stack.local.part import LocalClients, Part, PartContext
from stack.local.services import Services, start_order
from stack.local.zygote.client import Zygote


def load(spec: str) -> type[Part]:
    """The part class named by ``spec`` ("module:Class"). Raises StackError when it cannot be loaded."""
    module, _, name = spec.partition(":")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise StackError(f"cannot load the part {spec!r}: {error}") from None
    if not isinstance(found, type) or not all(hasattr(found, a) for a in ("name", "provides", "requires",
                                                                          "cleanup_leftovers")):
        raise StackError(f"{spec!r} is not a part class: it needs name, provides, requires and cleanup_leftovers "
                         "(see stack.local.part)")
    part: type[Part] = found
    return part


def cleanup_leftovers(classes: Iterable[type[Part]], instance: Instance, services: Services | None = None) -> list[str]:
    """Every part's ``cleanup_leftovers``, each with its own context; one part's failure is noted, not raised."""
    notes: list[str] = []
    for cls in classes:
        context = PartContext.for_part(cls.name, instance, services or Services())
        try:
            notes += cls.cleanup_leftovers(context)
        except Exception as error:
            context.log.exception("cleaning the leftovers of %s failed", cls.name)
            notes.append(f"cleaning the leftovers of {cls.name} failed: {type(error).__name__}: {error}")
    return notes


def start_parts(classes: Sequence[type[Part]], instance: Instance, services: Services,
                started: Callable[[Part], None] = lambda part: None, known: Sequence[type[Part]] = (),
                zygote: Zygote | None = None) -> list[Part]:
    """Start ``classes`` in the order their services need, each with its own context; returns them started.

    After each start the part is registered for what it provides, then ``started(part)`` is called
    (the supervisor attaches it to the control plane). Raises StackError before starting anything
    when a required service has no provider or the services form a cycle; a part that fails to
    start raises, and the caller stops those already started (``started`` has seen them).
    ``known``: every part there is, named when one would provide a missing service. ``zygote``: the stack's,
    in every part's context.
    """
    ordered = start_order(classes, services.kinds, known)
    clients = LocalClients(instance.aws_endpoint)
    log = logging.getLogger("gameday.supervisor")
    parts: list[Part] = []
    for cls in ordered:
        part = cls()
        context = PartContext.for_part(cls.name, instance, services, clients, zygote)
        began = time.monotonic()
        part.start(context)
        log.info("part %s started in %.2f s", cls.name, time.monotonic() - began)
        for kind in cls.provides:
            services.provide(kind, part, by=f"part {cls.name}")
        parts.append(part)
        started(part)
    return parts
