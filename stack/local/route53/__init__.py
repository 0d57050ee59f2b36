"""Route 53 on the local stack: an authoritative DNS server and a health checker with AWS's semantics.

Modules, one concept each:

- ``records``: record sets as frozen dataclasses, parsed from boto3's ``list_resource_record_sets`` shape;
- ``zone``: one zone's lookup index and the set of zones the server answers for;
- ``catalog``: the zones currently served (hosted zones plus service-owned names such as RDS endpoints);
- ``network``: who is asking (a vantage point's location and latency ranking) from an address or ECS subnet;
- ``policy`` and ``routing``: the pure resolution engine (no I/O);
- ``wire``, ``cache`` and ``responder``: DNS wire format (a fast codec, dnspython for the rest), the
  answer cache, and one query's bytes to one response's bytes;
- ``server`` and ``loop``: the UDP/TCP listeners on an event loop thread;
- ``healthcheck``, ``health``, ``probe``, ``checker``: health checks (where the checkers sit, and their RTTs,
  is stack.local.geography, shared with the fabric);
- ``api`` and ``changes``: the control-plane answers (GetHealthCheckStatus, GetHealthCheckLastFailureReason, GetChange);
- ``part``: ``Route53Part``, the Part the supervisor starts, with ``dirty`` (what its refresher must re-read).
"""
