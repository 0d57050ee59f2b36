"""DynamoDB global tables on the local stack: replication between a table's replicas.

Modules, one concept each:

- ``writes``: which items a successful write call changed;
- ``replicator``: carries each write to the other replicas after the modelled delay, last writer wins;
- ``part``: ``DynamoDbPart``, the Part the supervisor starts.

The replica bookkeeping (UpdateTable's ReplicaUpdates, DescribeTable's Replicas) is the control
plane's: stack.local.controlplane.dynamodb.
"""
