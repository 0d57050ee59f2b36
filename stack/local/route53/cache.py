"""Responses to repeated queries, kept while the zones and health statuses they came from are unchanged.

Probes ask the same few names from the same few vantage points over and over; answering those from
here costs a dictionary lookup instead of a resolution. An entry is keyed by the query's bytes after
its ID (so the flags, question and EDNS/ECS options all count) and the transport; an answer that
depended on the *source address* (latency or geolocation without ECS) is kept per client network.
Randomised answers (weighted, multivalue) are never kept. Any change to the zones or to any health
status empties the whole cache: changes are rare, queries are not.
"""
from __future__ import annotations

from typing import Callable, Hashable

MAX_ENTRIES = 10_000
Entry = tuple[str, bytes]  # rcode text (for the counters), response without its 2-byte ID


class AnswerCache:
    def __init__(self, version: Callable[[], Hashable], max_entries: int = MAX_ENTRIES) -> None:
        self._version_of = version
        self._version: Hashable = None
        self._max = max_entries
        self._any_source: dict[tuple[bool, bytes], Entry] = {}
        self._per_network: dict[tuple[bool, bytes, str], Entry] = {}
        self._source_dependent: set[tuple[bool, bytes]] = set()

    def get(self, udp: bool, query: bytes, network: Callable[[], str]) -> Entry | None:
        """The cached response for ``query`` (bytes after the ID); ``network`` names the source's network."""
        version = self._version_of()
        if version != self._version:
            self.clear()
            self._version = version
            return None
        key = (udp, query)
        entry = self._any_source.get(key)
        if entry is not None:
            return entry
        if key in self._source_dependent:
            return self._per_network.get((udp, query, network()))
        return None

    def put(self, udp: bool, query: bytes, network: str | None, rcode: str, response: bytes) -> None:
        """Keep ``response`` (without its ID); ``network`` is None unless the answer depended on the source."""
        if len(self._any_source) + len(self._per_network) >= self._max:
            self.clear()
        if network is None:
            self._any_source[(udp, query)] = (rcode, response)
        else:
            self._source_dependent.add((udp, query))
            self._per_network[(udp, query, network)] = (rcode, response)

    def clear(self) -> None:
        self._any_source.clear()
        self._per_network.clear()
        self._source_dependent.clear()

    def __len__(self) -> int:
        return len(self._any_source) + len(self._per_network)
