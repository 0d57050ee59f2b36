"""CloudFront's data plane: one caching HTTP proxy per edge location, origins with failover, invalidations.

The part (``part.py``) reads distributions through boto3 from the local endpoint, like any user, and
serves them at each edge location's loopback address; the distribution's name resolves at the local
DNS server to the edge nearest the client (``edges.py``). ``hook.py`` is where a request evaluator (WAF)
plugs in.
"""
