"""Faults: one reversible change through the AWS API each, journaled first and rolled back in ``finally``.

One module per AWS service area: network (NACLs), route53, rds, ec2, dynamodb; runbook holds the DR steps
(promotion, writer name) whose rollback restores the topology. ``REGISTRY`` maps a journaled
fault name to its class, which is how ``gameday recover`` undoes what a killed run left.
"""
from __future__ import annotations

from faults import directconnect, dynamodb, ec2, fistemplate, network, rds, route53, runbook, site
from faults.base import Fault

REGISTRY: dict[str, type[Fault]] = {
    cls.name: cls
    for cls in (network.IsolateAz, network.IsolateRegion, route53.FailHealthCheck, rds.RebootWithFailover,
                rds.PromoteReplica, ec2.StopInstances, runbook.PromoteReplica, runbook.PointWriter,
                fistemplate.FisTemplate, dynamodb.PauseReplication, directconnect.DisconnectVif, site.SiteAction)
}
