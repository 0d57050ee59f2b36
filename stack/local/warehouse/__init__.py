"""The warehouse: a site outside AWS whose service sends inventory transactions to an inventory API in a Region.

- ``inventory``: the inventory API, in the warehouse links' Region (exposed by the fabric on an address
  of the Region's first subnet); it stores each transaction once (idempotency by transaction id) before
  acknowledging it.
- ``site``: the warehouse service at the warehouse site's address; it sends transactions one after the
  other, retrying each until acknowledged (a new connection per retry, as an HTTP client does after a
  timeout), and records every acknowledged one with its latency.
- ``part``: both as a part of the local stack, and the warehouse router's BFD switch.
"""
