"""Which Route 53 changes the DNS server already serves: GetChange's PENDING and INSYNC.

Every notified mutation gets a generation number; a refresh that started after generation g was
requested serves everything up to g. A change is INSYNC once its generation is served.
"""
from __future__ import annotations

import collections
import datetime
import threading
import xml.etree.ElementTree as ElementTree

MAX_REMEMBERED = 10_000


def change_id_of(response_body: bytes) -> str:
    """The ChangeInfo Id in a ChangeResourceRecordSets / CreateHostedZone / DeleteHostedZone response, bare."""
    try:
        root = ElementTree.fromstring(response_body)
    except ElementTree.ParseError:
        return ""
    for element in root.iter():
        if element.tag.endswith("ChangeInfo"):
            for child in element:
                if child.tag.endswith("Id") and child.text:
                    return child.text.strip().rsplit("/", 1)[-1]
    return ""


class ChangeTracker:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._requested = 0
        self._served = 0
        self._changes: collections.OrderedDict[str, tuple[int, datetime.datetime]] = collections.OrderedDict()

    def request(self, change_id: str = "") -> int:
        """Note a mutation that needs a refresh; returns its generation."""
        with self._condition:
            self._requested += 1
            if change_id:
                self._changes[change_id] = (self._requested, datetime.datetime.now(datetime.timezone.utc))
                while len(self._changes) > MAX_REMEMBERED:
                    self._changes.popitem(last=False)
            return self._requested

    def begin(self) -> int:
        """The generation a refresh starting now will serve once it completes."""
        with self._condition:
            return self._requested

    def served(self, generation: int) -> None:
        with self._condition:
            self._served = max(self._served, generation)
            self._condition.notify_all()

    @property
    def pending(self) -> bool:
        with self._condition:
            return self._requested > self._served

    def status(self, change_id: str) -> tuple[str, datetime.datetime]:
        """PENDING or INSYNC, and when it was submitted.

        An id this part never saw (made before it started, or by an operation it is not told about)
        is INSYNC unless a refresh is outstanding: there is nothing left that could make it pending.
        """
        with self._condition:
            known = self._changes.get(change_id)
            if known is None:
                pending = self._requested > self._served
                return ("PENDING" if pending else "INSYNC"), datetime.datetime.now(datetime.timezone.utc)
            generation, submitted = known
            return ("INSYNC" if generation <= self._served else "PENDING"), submitted

    def wait(self, timeout_s: float) -> bool:
        """Wait until every requested refresh is served; False when ``timeout_s`` passed first."""
        with self._condition:
            return self._condition.wait_for(lambda: self._requested <= self._served, timeout_s)
