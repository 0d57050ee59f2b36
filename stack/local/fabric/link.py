"""One direction of a proxied connection: read, delay, gate, write.

Effects, in Toxiproxy's vocabulary:

- **latency**: every chunk is stamped with ``now + delay`` when read and written when that time
  comes, so ordering is kept and many chunks are in flight at once (throughput is not divided
  by the delay);
- **gate** (the NACL): a denied direction stops *reading* its source, so the sender's TCP window
  fills exactly as on a dead network, and holds what it already read. It never closes or resets:
  re-allowing writes the held bytes and reads on, so a stalled connection resumes if neither end
  gave up. End-of-stream and resets travel the same queue, so a FIN cannot overtake data or
  cross a cut network either.
"""
from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from collections import deque
from typing import Callable

from stack.local.fabric import toxics
from stack.local.fabric.timer import Timer

# Bytes read but not yet written before reading pauses; a bandwidth-delay product large enough
# for loopback at the matrix's delays without letting one flow hold unbounded memory.
QUEUE_LIMIT_BYTES = 4 * 1024 * 1024
_CHANCE = random.Random()  # the loss toxic's draws
_EOF = object()
_RESET = object()


class Link:
    __slots__ = ("delay_s", "allowed", "reader", "writer", "done", "_ended", "_queue",
                 "_queued_bytes", "_pauses", "_timer", "_timer_pending", "count", "_on_done", "sending", "_last_due")

    def __init__(self, delay_s: float, timer: Timer, count: Callable[[int], None],
                 on_done: Callable[[], None]) -> None:
        self.delay_s = delay_s
        self.allowed = True
        self.reader: asyncio.Transport | None = None
        self.writer: asyncio.Transport | None = None
        self.done = False  # end-of-stream (or reset) delivered to the writer, or the writer is gone
        self._ended = False  # end-of-stream (or reset) queued: nothing follows it
        self._queue: deque[tuple[float, object]] = deque()
        self._queued_bytes = 0
        self._pauses: set[str] = set()
        self._timer = timer
        self._timer_pending = False
        self.count = count
        self._on_done = on_done
        self.sending = toxics.NONE  # the toxics on what this direction's sender sends (toxics.py)
        self._last_due = 0.0

    @property
    def held_bytes(self) -> int:
        return self._queued_bytes

    def feed(self, data: bytes) -> None:
        """Bytes read from the source."""
        if self._ended:
            return  # the destination is gone (writer_lost): as with a closed peer, nobody takes them
        if self.allowed and self.delay_s == 0.0 and not self._queue and self.writer is not None \
                and not self.sending.active:
            # The hot path within a Region: nothing to delay, nothing held ahead of these bytes.
            self.writer.write(data)
            self.count(len(data))
            return
        self._queued_bytes += len(data)
        self._enqueue(data)
        if self._queued_bytes > QUEUE_LIMIT_BYTES:
            self._pause("queue")
        elif self._pauses and self.reader is not None and self.reader.is_reading():
            # uvloop starts reading after connection_made() even when it paused reading (asyncio
            # does not): the first read of a connection born denied is held, and reading stops here.
            self.reader.pause_reading()

    def feed_eof(self) -> None:
        if not self._ended:
            self._ended = True
            self._enqueue(_EOF)

    def feed_reset(self) -> None:
        if not self._ended:
            self._ended = True
            self._enqueue(_RESET)

    def _enqueue(self, item: object) -> None:
        due = time.monotonic() + self.delay_s
        if self.sending.active:
            # A toxic's chunk may be held longer than the one after it: the stream keeps its order.
            due = max(due + self.sending.extra_s(_CHANCE), self._last_due)
        self._last_due = due
        self._queue.append((due, item))
        if not self.allowed or self.writer is None:
            return
        if self.delay_s == 0.0 and not self.sending.active:
            self._flush()
        elif not self._timer_pending:
            self._timer_pending = True
            self._timer.call_at(self._queue[0][0], self._on_timer)

    def attach_writer(self, writer: asyncio.Transport) -> None:
        self.writer = writer
        self._flush()

    def set_allowed(self, allowed: bool) -> None:
        if allowed == self.allowed:
            return
        self.allowed = allowed
        if allowed:
            self._resume("denied")
            self._flush()
        else:
            self._pause("denied")

    def writer_paused(self) -> None:
        self._pause("backpressure")

    def writer_resumed(self) -> None:
        self._resume("backpressure")

    def writer_lost(self) -> None:
        """The destination is gone: what would be written to it is discarded, as by a closed peer."""
        self._queue.clear()
        self._queued_bytes = 0
        self.writer = None
        self.done = self._ended = True
        for reason in ("queue", "backpressure"):
            self._resume(reason)  # read on (and discard), so the source's own end is still seen

    def _on_timer(self) -> None:
        self._timer_pending = False
        self._flush()

    def _flush(self) -> None:
        writer = self.writer
        if not self.allowed or writer is None:
            return
        queue = self._queue
        now = self._timer.horizon()
        while queue and queue[0][0] <= now:
            _, item = queue.popleft()
            if isinstance(item, bytes):
                self._queued_bytes -= len(item)
                if not writer.is_closing():
                    writer.write(item)
                    self.count(len(item))
            elif item is _EOF:
                self._deliver_eof(writer)
            else:
                self._deliver_reset(writer)
        if self._queued_bytes <= QUEUE_LIMIT_BYTES // 2:
            self._resume("queue")
        if queue and not self._timer_pending:
            self._timer_pending = True
            self._timer.call_at(queue[0][0], self._on_timer)

    def _deliver_eof(self, writer: asyncio.Transport) -> None:
        if not writer.is_closing():
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        self.done = True
        self._on_done()

    def _deliver_reset(self, writer: asyncio.Transport) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Linger 0 makes close() send a RST: the peer's own reset is passed on, not invented.
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        writer.abort()
        self.done = True
        self._on_done()

    def _pause(self, reason: str) -> None:
        if not self._pauses and self.reader is not None and not self.reader.is_closing():
            self.reader.pause_reading()
        self._pauses.add(reason)

    def _resume(self, reason: str) -> None:
        if reason not in self._pauses:
            return
        self._pauses.discard(reason)
        if not self._pauses and self.reader is not None and not self.reader.is_closing():
            self.reader.resume_reading()

    def set_reader(self, reader: asyncio.Transport) -> None:
        self.reader = reader
        if self._pauses:
            reader.pause_reading()
