"""Attach mode: find a team's existing stack by its tags, into the handles the builder returns.

The tag contract (docs/real-aws.md), every value overridable by the environment file's ``discovery``
block or by environment variables:

- every part carries the stack tag, ``gameday:stack=securecart`` (``discovery.tag_key``/``tag_value``;
  ``GAMEDAY_DISCOVERY_TAG=key=value``);
- checkout instances also carry ``gameday:role=checkout`` (``discovery.role_tag_key``/``checkout_role``;
  ``GAMEDAY_CHECKOUT_TAG=key=value``);
- the hosted zone named by ``stack.zone`` carries the stack tag, and holds the record names experiments
  resolve (``checkout.<zone>`` and the writer name ``orders.db.<zone>``);
- each checkout instance has a health check carrying the stack tag, on its private address and port;
- the orders writer is the DB instance with the stack tag in ``stack.database_region`` that replicates
  from nothing, and the replica the one with the stack tag in ``stack.replica_region`` that does;
- subnets carrying the stack tag in every Region of the environment;
- optionally, the catalog global table (``catalog`` in ``stack.database_region``) carrying the stack tag:
  without it the stack has no catalog handle, and the catalog experiments skip;
- optionally, the CloudFront distribution carrying the stack tag (stack.cdn): without it the stack has no
  cdn handle, and the edge experiments skip.

Only reads are made. Everything missing is named in one BuildError, with the tag it looked for.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Mapping

from base.clients import ClientFactory
from base.errors import BuildError
from environments.model import AwsEnvironment, LocalEnvironment
from stack import catalog as catalog_, cdn as cdn_
from stack.handles import CatalogHandle, DatabaseHandle, InstanceHandle, ReferenceStack, SubnetHandle

LIVE_STATES = ["pending", "running", "stopping", "stopped"]


@dataclass(frozen=True)
class TagContract:
    stack: tuple[str, str]
    checkout: tuple[str, str]

    @classmethod
    def for_environment(cls, environment: LocalEnvironment | AwsEnvironment,
                        environ: Mapping[str, str] | None = None) -> "TagContract":
        environ = os.environ if environ is None else environ
        if isinstance(environment, AwsEnvironment):
            found = environment.discovery
            stack, checkout = (found.tag_key, found.tag_value), (found.role_tag_key, found.checkout_role)
        else:  # the local stack: the reference builder's tags
            stack, checkout = ("gameday:stack", "securecart"), ("gameday:role", "checkout")
        return cls(_pair(environ, "GAMEDAY_DISCOVERY_TAG", stack), _pair(environ, "GAMEDAY_CHECKOUT_TAG", checkout))

    def text(self, *pairs: tuple[str, str]) -> str:
        return " and ".join(f"{key}={value}" for key, value in pairs)


def _pair(environ: Mapping[str, str], variable: str, default: tuple[str, str]) -> tuple[str, str]:
    value = environ.get(variable, "")
    if not value:
        return default
    key, sep, tag_value = value.partition("=")
    if not sep or not key:
        raise BuildError(f"{variable}: {value!r} is not allowed; give the tag as key=value, such as gameday:stack=securecart")
    return key, tag_value


def _place(instance: dict[str, Any], order: list[str]) -> tuple[int, str]:
    """Instances in the environment's AZ order, as the builder returns them."""
    az = instance.get("Placement", {}).get("AvailabilityZone", "")
    return order.index(az) if az in order else len(order), instance["InstanceId"]


def _tags(pairs: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in pairs or ()}


class Discovery:
    def __init__(self, environment: LocalEnvironment | AwsEnvironment, clients: ClientFactory,
                 tags: TagContract | None = None) -> None:
        self.env, self.clients = environment, clients
        self.tags = tags or TagContract.for_environment(environment)
        self.missing: list[str] = []

    def _has(self, tags: dict[str, str], *pairs: tuple[str, str]) -> bool:
        return all(tags.get(key) == value for key, value in pairs)

    def discover(self) -> ReferenceStack:
        """The stack's handles. Raises BuildError naming every missing part and the tag looked for."""
        from stack.builder import record_names

        self.missing = []
        zone_id = self.zone()
        subnets = [subnet for region in self.env.regions for subnet in self.subnets(region)]
        instances = self.instances(subnets)
        database = self.database(self.env.stack.database_region, replica=False)
        replica = self.database(self.env.stack.replica_region, replica=True) if self.env.stack.replica_region else None
        if self.missing:
            raise BuildError(f"attaching to the stack tagged {self.tags.text(self.tags.stack)} in {self.env.name}: "
                             + "; ".join(self.missing) + ". Tag the stack's resources (docs/real-aws.md, "
                             "\"The tag contract\"), or set the environment's discovery tags")
        assert zone_id is not None
        return ReferenceStack(self.env.name, zone_id, self.env.stack.zone, record_names(self.env.stack.zone),
                              tuple(subnets), tuple(instances), database, replica, catalog=self.catalog(),
                              cdn=cdn_.Cdn(cdn_.spec_of(self.env, self.tags.stack[1]), self.clients, [], "").find(self.tags.stack))

    # -- the parts ---------------------------------------------------------------------------------

    def zone(self) -> str | None:
        from stack.builder import record_names

        route53 = self.clients("route53", "us-east-1")
        name = self.env.stack.zone
        zones = [str(z["Id"]).split("/")[-1] for z in route53.list_hosted_zones_by_name(DNSName=name)["HostedZones"]
                 if z["Name"] == name]
        tagged = [z for z in zones if self._has(_tags(route53.list_tags_for_resource(
            ResourceType="hostedzone", ResourceId=z)["ResourceTagSet"].get("Tags")), self.tags.stack)]
        if not tagged:
            self.missing.append(f"no hosted zone {name} carries {self.tags.text(self.tags.stack)}"
                                + (f" (found untagged: {', '.join(zones)})" if zones else ""))
            return None
        names = record_names(name)
        for record in (names.checkout, names.database):
            found = route53.list_resource_record_sets(HostedZoneId=tagged[0], StartRecordName=record,
                                                      MaxItems="1")["ResourceRecordSets"]
            if not found or found[0]["Name"] != record:
                self.missing.append(f"the hosted zone {name} ({tagged[0]}) has no record {record}")
        return tagged[0]

    def subnets(self, region: str) -> list[SubnetHandle]:
        key, value = self.tags.stack
        found = self.clients("ec2", region).describe_subnets(Filters=[{"Name": f"tag:{key}", "Values": [value]}])["Subnets"]
        if not found:
            self.missing.append(f"no subnet in {region} carries {self.tags.text(self.tags.stack)}")
        order = list(self.env.regions[region].availability_zones)
        found.sort(key=lambda s: (order.index(s["AvailabilityZone"]) if s["AvailabilityZone"] in order else len(order),
                                  s["SubnetId"]))
        return [SubnetHandle(region, s["AvailabilityZone"], s["SubnetId"], s["CidrBlock"], s["VpcId"]) for s in found]

    def _health_checks(self) -> dict[tuple[str | None, int | None], str]:
        route53 = self.clients("route53", "us-east-1")
        checks = {c["Id"]: c["HealthCheckConfig"] for page in route53.get_paginator("list_health_checks").paginate()
                  for c in page["HealthChecks"]}
        ids = list(checks)
        tagged: dict[tuple[str | None, int | None], str] = {}
        for start in range(0, len(ids), 10):  # ListTagsForResources takes at most 10 ids
            for tag_set in route53.list_tags_for_resources(ResourceType="healthcheck",
                                                           ResourceIds=ids[start:start + 10])["ResourceTagSets"]:
                if self._has(_tags(tag_set.get("Tags")), self.tags.stack):
                    config = checks[tag_set["ResourceId"]]
                    tagged[(config.get("IPAddress"), config.get("Port"))] = tag_set["ResourceId"]
        return tagged

    def instances(self, subnets: list[SubnetHandle]) -> list[InstanceHandle]:
        checks = self._health_checks()
        by_subnet = {s.subnet_id: s for s in subnets}
        handles = []
        for region in self.env.regions:
            filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in (self.tags.stack, self.tags.checkout)]
            found = [i for page in self.clients("ec2", region).get_paginator("describe_instances").paginate(
                Filters=filters + [{"Name": "instance-state-name", "Values": LIVE_STATES}])
                for r in page["Reservations"] for i in r["Instances"]]
            if not found:
                self.missing.append(f"no instance in {region} carries {self.tags.text(self.tags.stack, self.tags.checkout)}")
            order = list(self.env.regions[region].availability_zones)
            for instance in sorted(found, key=functools.partial(_place, order=order)):
                subnet = by_subnet.get(instance.get("SubnetId", ""))
                ip = instance.get("PrivateIpAddress")
                check = next(((port, check_id) for (address, port), check_id in checks.items() if address == ip), None)
                if subnet is None:
                    self.missing.append(f"instance {instance['InstanceId']} ({region}) is in subnet "
                                        f"{instance.get('SubnetId')}, which does not carry {self.tags.text(self.tags.stack)}")
                elif check is None:
                    self.missing.append(f"instance {instance['InstanceId']} ({region}, {ip}) has no health check on its "
                                        f"address carrying {self.tags.text(self.tags.stack)}")
                else:
                    handles.append(InstanceHandle(instance["InstanceId"], region, subnet.availability_zone,
                                                  subnet.subnet_id, str(ip), check[1],
                                                  int(check[0] or self.env.stack.checkout_port)))
        return handles

    def database(self, region: str | None, replica: bool) -> DatabaseHandle | None:
        if region is None:
            return None
        what = "read replica" if replica else "orders writer (a DB instance that is not a read replica)"
        found = [db for page in self.clients("rds", region).get_paginator("describe_db_instances").paginate()
                 for db in page["DBInstances"]
                 if self._has(_tags(db.get("TagList")), self.tags.stack)
                 and bool(db.get("ReadReplicaSourceDBInstanceIdentifier")) == replica]
        if len(found) > 1:  # several: the environment's identifier decides
            named = self.env.stack.database_identifier + ("-replica" if replica else "")
            found = [db for db in found if db["DBInstanceIdentifier"] == named] or found[:0]
            if not found:
                self.missing.append(f"several DB instances in {region} carry {self.tags.text(self.tags.stack)} and none is "
                                    f"named {named} (stack.database_identifier)")
                return None
        if not found:
            self.missing.append(f"no {what} in {region} carries {self.tags.text(self.tags.stack)}")
            return None
        db = found[0]
        endpoint = db.get("Endpoint") or {}
        secret = (db.get("MasterUserSecret") or {}).get("SecretArn") or \
            f"{self.tags.stack[1]}/{self.env.stack.database_identifier}/master"
        return DatabaseHandle(db["DBInstanceIdentifier"], region, endpoint.get("Address"),
                              int(endpoint.get("Port", 5432)), bool(db.get("MultiAZ")), secret)


    def catalog(self) -> CatalogHandle | None:
        """The catalog table in the database's Region when it carries the stack tag; None without one (optional)."""
        region = self.env.stack.database_region
        dynamodb = self.clients("dynamodb", region)
        try:
            table = dynamodb.describe_table(TableName=catalog_.TABLE)["Table"]
        except dynamodb.exceptions.ResourceNotFoundException:
            return None
        tags = _tags(dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags"))
        if not self._has(tags, self.tags.stack):
            return None
        regions = {r["RegionName"] for r in table.get("Replicas") or ()} | {region}
        return CatalogHandle(catalog_.TABLE, region, tuple(sorted(regions)), catalog_.admin_secret_id(self.tags.stack[1]))


def discover(environment: LocalEnvironment | AwsEnvironment, clients: ClientFactory) -> ReferenceStack:
    return Discovery(environment, clients).discover()
