"""DynamoDB global tables on the local stack: replication between a table's replicas.

Modules, one concept each:

- ``replicator``: carries each write to the other replicas after the modelled delay, last writer
  wins, held while a replica's resource policy denies replication;
- ``metrics``: ReplicationLatency, published to CloudWatch;
- ``strong``: multi-Region strong consistency (MRSC): when a write or strong read may proceed, quorum,
  ReplicatedWriteConflictException, a cut-off replica's refusal and catch-up;
- ``part``: ``DynamoDbPart``, the Part the supervisor starts (and the TTL sweep).

The control plane keeps the replica bookkeeping (UpdateTable's ReplicaUpdates, DescribeTable's
Replicas: stack.local.controlplane.dynamodb) and applies every write to a global table's items under
the table's lock (stack.local.controlplane.dynamoitems), lent to the part as ``GlobalTableItems``.
"""
