"""The local stack's network fabric: a userspace TCP proxy that makes subnets, NACLs and latency real.

Every listener of the local stack is reached through the fabric: a real server listens only on a
Unix socket (its *backend*), and the fabric listens on the node's private address (127.x) and
forwards. On the way it applies the NACLs stored in EC2 (acl.py), the inter-Region and
vantage-point delays (topology.py, link.py) and drop-not-reset semantics (link.py). It runs as
its own process (``python -m stack.local.fabric``) so the proxy's hot path does not share a GIL
with the control plane; ``client.FabricClient`` and ``part.FabricPart`` drive it, and
``connect`` gives probes sockets and requests sessions from a vantage point's address.

What a client sees, and where it differs from AWS:

- A cut open connection stalls in both directions and never resets; restoring resumes it with
  the held bytes. Timeouts are the endpoints' own.
- A *new* connection to a denied destination: with root and nftables (firewall.py) its SYN or
  SYN-ACK is dropped, so connect() times out as on AWS. Without them, or for a client that did
  not bind a source address (libpq), the kernel completes the handshake before the fabric can
  judge it, so connect() succeeds and the client then waits for bytes that never come: a read
  timeout instead of a connect timeout. The server never sees such a connection.
- The TCP handshake is answered by the fabric's kernel, so it is not delayed: a new connection's
  connect() returns at once and only the bytes after it carry the RTT (one RTT less than AWS
  for connect + first request).
- Clients are identified by their bound source address, else by the registered process that
  owns the socket (owner.py); reading another user's /proc/<pid>/fd needs root.
"""
