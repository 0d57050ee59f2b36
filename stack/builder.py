"""Build SecureCart's reference stack through boto3, idempotently.

The same calls run against the local endpoint and against AWS (the one code path): VPCs and one
subnet per AZ, the orders database (Multi-AZ) with a cross-Region read replica, checkout instances
in every AZ, one HTTP health check per instance, and the Route 53 record tree:

    checkout.Z   failover   PRIMARY  -> alias geo.checkout.Z        (EvaluateTargetHealth)
                            SECONDARY-> alias <dr-region>.checkout.Z
    geo.checkout.Z  geolocation EU   -> alias eu-central-1.checkout.Z
                                *    -> alias latency.checkout.Z
    latency.checkout.Z  latency, one alias per active Region -> <region>.checkout.Z
    <region>.checkout.Z multivalue, one A record per instance, each with its health check
    canary.checkout.Z   weighted 90/10 between the first two active Regions

and the product catalog, a DynamoDB global table with a replica in every Region (stack.catalog), made
in a thread beside the rest (each replica is CREATING for minutes on AWS) and waited for before the
build returns.

Every resource carries the tag ``gameday:stack=<stack>``; a second build finds it instead of
creating a duplicate. ``Builder.attach`` walks the same steps with clients that may only read: it
returns handles to a stack built earlier (in a real account, without ``--build-stack``), and names
the first missing piece instead of creating it.
"""
from __future__ import annotations

import functools
import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from botocore.exceptions import ClientError, WaiterError

from base import runid
from base.clients import ClientFactory
from environments.model import AwsEnvironment, LocalEnvironment
from base.deadline import DeadlineExceeded, until
from base.errors import BuildError
from base.operations import is_read_only
from stack import ami, catalog as catalog_, hybrid, topology, userdata
from stack.handles import CatalogHandle, DatabaseHandle, InstanceHandle, RecordNames, ReferenceStack, SubnetHandle

STACK_TAG = "gameday:stack"
ROLE_TAG = "gameday:role"
CHECKOUT_ROLE = "checkout"
CHECKOUT_INSTANCE_TYPE = "t3.micro"
DB_INSTANCE_CLASS = "db.t3.micro"
DB_STORAGE_GB = 20
DB_USER = "securecart"
DB_NAME = "securecart"
EU_REGION = "eu-central-1"
WRITER_TTL_S = 5  # the same as RDS's own endpoint records



@dataclass(frozen=True)
class BuildOptions:
    stack_name: str = "securecart"
    wait_delay_s: float = 1.0  # waiter polling; the local stack is fast, AWS is not
    wait_attempts: int = 300
    # The DNS server that resolves the RDS endpoints for reading orders (host, port); None: the system's (AWS).
    nameserver: tuple[str, int] | None = None
    # Converging a promoted replica while it holds orders the writer lacks: copy them to the writer first.
    # Without this the build refuses and names them (nothing is changed).
    copy_back_orphaned_orders: bool = False
    # What the checkout instances' user data pip-installs (stack.userdata): a requirement naming this repository,
    # such as a wheel URL or git+https://...; a build in an aws environment refuses to start without one.
    checkout_package: str | None = None
    # The instance profile checkout instances run with (reading the master secret); None: none.
    instance_profile: str | None = None
    # The catalog global table (stack.catalog); off only where the endpoint keeps no global tables (plain moto).
    catalog: bool = True
    # The sites' Direct Connect and VPN links (stack.hybrid), local environments only; off where moto alone answers.
    hybrid: bool = False
    run_id: str | None = None  # the gameday:run tag on what this build creates (None: this process's run id)


def options_from_environ(environ: Mapping[str, str] | None = None, **given: Any) -> BuildOptions:
    """BuildOptions with what only the user knows taken from the environment: GAMEDAY_CHECKOUT_PACKAGE (what the
    checkout instances' user data installs) and GAMEDAY_INSTANCE_PROFILE."""
    environ = os.environ if environ is None else environ
    return BuildOptions(checkout_package=environ.get("GAMEDAY_CHECKOUT_PACKAGE") or None,
                        instance_profile=environ.get("GAMEDAY_INSTANCE_PROFILE") or None, **given)


def record_names(zone: str) -> RecordNames:
    return RecordNames(checkout=f"checkout.{zone}", geo=f"geo.checkout.{zone}",
                       latency=f"latency.checkout.{zone}", canary=f"canary.checkout.{zone}",
                       database=f"orders.db.{zone}")


def checkout_config(database: DatabaseHandle, writer_name: str, port: int,
                    stack_name: str | None = None) -> dict[str, Any]:
    """The checkout instance's configuration contract (stack.local.ec2.contract): the writer's DNS name,
    the Secrets Manager secret holding its credentials, the port checkout listens on and (``stack_name`` set)
    the catalog table with the secret of its admin token."""
    config: dict[str, Any] = {"db_endpoint": writer_name.rstrip("."), "db_port": database.port,
                              "db_region": database.region, "db_name": DB_NAME, "db_secret_id": database.secret_id,
                              "port": port}
    if stack_name is not None:
        config |= {"catalog_table": catalog_.TABLE, "catalog_admin_secret_id": catalog_.admin_secret_id(stack_name)}
    return config


def checkout_user_data(database: DatabaseHandle, writer_name: str, port: int, package: str | None = None,
                       stack_name: str | None = None) -> str:
    """The boot script that installs and starts checkout with that configuration (stack.userdata)."""
    return userdata.render(checkout_config(database, writer_name, port, stack_name), package)


class ReadOnlyClient:
    """A boto3 client through which only reads pass (as in a dry run: base.operations.is_read_only); any
    other API call is a BuildError. Helpers that call no API (paginators, waiters, meta) pass too."""

    def __init__(self, client: Any, service: str, region: str, stack_name: str) -> None:
        self._client, self._where, self._stack_name = client, f"{service} in {region}", stack_name

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        operation = self._client.meta.method_to_api_mapping.get(name)
        if operation is None or is_read_only(operation):
            return attribute

        def refused(**params: Any) -> Any:
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items() if isinstance(v, (str, int, bool)))[:300]
            raise BuildError(f"the reference stack {self._stack_name!r} is not complete: attaching to it would need "
                             f"{name}({shown}) ({self._where}); build it with --build-stack, or check the "
                             f"environment's regions and stack settings")

        return refused


class Builder:
    def __init__(self, environment: LocalEnvironment | AwsEnvironment, client: ClientFactory,
                 options: BuildOptions = BuildOptions()) -> None:
        self.env = environment
        # boto3 clients cost tens of milliseconds to create; the build makes hundreds of calls.
        self.client = functools.cache(client)
        self.options = options
        self.tags = [{"Key": STACK_TAG, "Value": options.stack_name}]
        self.run_id = options.run_id or runid.current()
        # What this build creates carries its run too: teardown removes exactly that (stack.teardown).
        self.created_tags = self.tags + [{"Key": runid.TAG, "Value": self.run_id}]
        self.converged: list[str] = []  # what the last build put back to the spec

    # -- the whole stack -------------------------------------------------------------------------

    def build(self) -> ReferenceStack:
        """Create whatever is missing and return handles to all of it. Raises BuildError."""
        if isinstance(self.env, AwsEnvironment) and not self.options.checkout_package:
            # Refused before anything is created: instances without checkout would never turn healthy.
            raise BuildError("building the reference stack in AWS needs the package the checkout instances' user data "
                             "installs: set GAMEDAY_CHECKOUT_PACKAGE to a pip requirement for this repository (a wheel "
                             "URL, or git+https://...); see docs/real-aws.md")
        built = self._walk("building", write_records=True)
        if self.options.hybrid and isinstance(self.env, LocalEnvironment):
            hybrid.ensure(self.env, self.client, self.created_tags, self.options.stack_name)
        return built

    def attach(self) -> ReferenceStack:
        """Handles to the stack built earlier, changing nothing. Raises BuildError naming what is missing."""
        reader = Builder(self.env, lambda service, region: ReadOnlyClient(
            self.client(service, region), service, region, self.options.stack_name), self.options)
        # The record tree is rewritten by every build; attaching leaves it as it is.
        return reader._walk("attaching to", write_records=False)

    def _walk(self, doing: str, write_records: bool) -> ReferenceStack:
        pool = ThreadPoolExecutor(1, thread_name_prefix="catalog")
        try:
            catalog = None
            if self.options.catalog:
                table = self.catalog()
                table.admin_secret()  # before the fleet: an instance reads it when it boots
                catalog = pool.submit(table.ensure)
            if write_records:
                self.converge()
            subnets = [subnet for region in self.env.regions for subnet in self.network(region)]
            database, replica = self.databases(subnets)
            zone_id = self.hosted_zone()
            self.writer_record(zone_id, database)
            instances = self.checkout_fleet(subnets, database)
            instances = self.health_checks(instances)
            if write_records:
                self.records(zone_id, instances)
            self.wait_healthy(instances)
            catalog_handle = self._catalog_handle(catalog)
        except ClientError as error:
            operation = error.operation_name
            raise BuildError(f"{doing} the reference stack failed at {operation}: "
                             f"{error.response['Error'].get('Code')}: {error.response['Error'].get('Message')}") from error
        except (WaiterError, catalog_.CatalogError) as error:  # something that never reached its state
            raise BuildError(f"{doing} the reference stack failed: {error}") from error
        finally:
            pool.shutdown(wait=True)  # an error above still waits for the catalog's calls to end
        return ReferenceStack(self.env.name, zone_id, self.env.stack.zone, record_names(self.env.stack.zone),
                              tuple(subnets), tuple(instances), database, replica, catalog=catalog_handle)

    # -- the catalog -----------------------------------------------------------------------------

    def catalog(self) -> catalog_.Catalog:
        """The catalog global table's builder; its clients are made here, in the calling thread (boto3's
        client creation is not thread-safe, its clients are)."""
        regions = tuple(self.env.regions)
        home = self.env.stack.database_region
        dynamodb = {region: self.client("dynamodb", region) for region in regions}
        return catalog_.Catalog(catalog_.CatalogSpec(home, regions, self.options.stack_name), dynamodb.__getitem__,
                                self.client("secretsmanager", home), self.options.wait_delay_s,
                                self.options.wait_delay_s * self.options.wait_attempts, self.created_tags)

    def _catalog_handle(self, running: Future[tuple[str, ...]] | None) -> CatalogHandle | None:
        if running is None:
            return None
        regions = running.result()  # raises what the thread raised
        return CatalogHandle(catalog_.TABLE, self.env.stack.database_region, regions,
                             catalog_.admin_secret_id(self.options.stack_name))

    # -- drift back to the spec ------------------------------------------------------------------

    def converge(self) -> list[str]:
        """Put a drifted DR topology back to the spec (stack.topology.converge). Raises BuildError."""
        spec = topology.spec_of(self.env, self.options.stack_name)
        zone = topology.zone_id(self.client, spec.zone)
        if zone is not None:
            self._tag_zone(zone)  # zones built before the tag was added get it now
        if isinstance(self.env, LocalEnvironment) and self.options.nameserver is None:
            nameserver_missing = "reading the orders needs the stack's DNS server: pass BuildOptions(nameserver=(host, port))"
        else:
            nameserver_missing = ""
        self.converged = topology.converge(self.client, spec, self.options.nameserver, nameserver_missing,
                                           copy_back=self.options.copy_back_orphaned_orders,
                                           delay_s=self.options.wait_delay_s, attempts=self.options.wait_attempts)
        return self.converged

    # -- network ---------------------------------------------------------------------------------

    def _tag_filter(self) -> list[dict[str, Any]]:
        return [{"Name": f"tag:{STACK_TAG}", "Values": [self.options.stack_name]}]

    def network(self, region: str) -> list[SubnetHandle]:
        ec2 = self.client("ec2", region)
        spec = self.env.regions[region]
        vpcs = ec2.describe_vpcs(Filters=self._tag_filter() + [{"Name": "cidr", "Values": [spec.vpc_cidr]}])["Vpcs"]
        if vpcs:
            vpc_id = vpcs[0]["VpcId"]
        else:
            vpc_id = ec2.create_vpc(CidrBlock=spec.vpc_cidr, TagSpecifications=[{
                "ResourceType": "vpc", "Tags": self.created_tags + [{"Key": "Name", "Value": f"securecart-{region}"}]}])["Vpc"]["VpcId"]
        existing = {s["AvailabilityZone"]: s for s in ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]}
        handles = []
        for az, zone in spec.availability_zones.items():
            subnet = existing.get(az) or ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=zone.subnet_cidr, AvailabilityZone=az, TagSpecifications=[{
                    "ResourceType": "subnet", "Tags": self.created_tags + [{"Key": "Name", "Value": f"securecart-{az}"}]}])["Subnet"]
            handles.append(SubnetHandle(region, az, subnet["SubnetId"], subnet["CidrBlock"], vpc_id))
        return handles

    # -- databases -------------------------------------------------------------------------------

    def _subnet_group(self, region: str, subnets: list[SubnetHandle]) -> str:
        rds = self.client("rds", region)
        name = f"{self.options.stack_name}-{region}"
        try:
            rds.describe_db_subnet_groups(DBSubnetGroupName=name)
        except ClientError as error:
            if error.response["Error"]["Code"] != "DBSubnetGroupNotFoundFault":
                raise
            rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription=f"SecureCart in {region}",
                                       SubnetIds=[s.subnet_id for s in subnets if s.region == region], Tags=self.created_tags)
        return name

    def _secret(self, region: str, identifier: str) -> tuple[str, str | None]:
        """The master credentials live in Secrets Manager; returns (secret id, new password or None)."""
        manager = self.client("secretsmanager", region)
        secret_id = f"{self.options.stack_name}/{identifier}/master"
        try:
            manager.describe_secret(SecretId=secret_id)
            return secret_id, None
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        password = secrets.token_urlsafe(24)
        manager.create_secret(Name=secret_id, Tags=self.created_tags,
                              SecretString=json.dumps({"username": DB_USER, "password": password}))
        return secret_id, password

    def _describe_db(self, region: str, identifier: str) -> dict[str, Any] | None:
        try:
            described: dict[str, Any] = self.client("rds", region).describe_db_instances(
                DBInstanceIdentifier=identifier)["DBInstances"][0]
            return described
        except ClientError as error:
            if error.response["Error"]["Code"] in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
                return None
            raise

    def _wait_available(self, region: str, identifier: str) -> dict[str, Any]:
        self.client("rds", region).get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=identifier,
            WaiterConfig={"Delay": self.options.wait_delay_s, "MaxAttempts": self.options.wait_attempts})
        described = self._describe_db(region, identifier)
        assert described is not None
        return described

    def _handle(self, described: dict[str, Any], region: str, secret_id: str) -> DatabaseHandle:
        endpoint = described.get("Endpoint") or {}
        return DatabaseHandle(described["DBInstanceIdentifier"], region, endpoint.get("Address"),
                              int(endpoint.get("Port", 5432)), bool(described.get("MultiAZ")), secret_id)

    def databases(self, subnets: list[SubnetHandle]) -> tuple[DatabaseHandle | None, DatabaseHandle | None]:
        stack = self.env.stack
        region, identifier = stack.database_region, stack.database_identifier
        secret_id, password = self._secret(region, identifier)
        if self._describe_db(region, identifier) is None:
            if password is None:
                password = json.loads(self.client("secretsmanager", region).get_secret_value(
                    SecretId=secret_id)["SecretString"])["password"]
            self.client("rds", region).create_db_instance(
                DBInstanceIdentifier=identifier, Engine="postgres", DBInstanceClass=DB_INSTANCE_CLASS,
                AllocatedStorage=DB_STORAGE_GB, MasterUsername=DB_USER, MasterUserPassword=password, DBName=DB_NAME,
                MultiAZ=True, BackupRetentionPeriod=7, DBSubnetGroupName=self._subnet_group(region, subnets),
                Tags=self.created_tags)
        primary = self._handle(self._wait_available(region, identifier), region, secret_id)
        replica = None
        if stack.replica_region:
            replica_id = f"{identifier}-replica"
            if self._describe_db(stack.replica_region, replica_id) is None:
                source = self._describe_db(region, identifier)
                assert source is not None
                self.client("rds", stack.replica_region).create_db_instance_read_replica(
                    DBInstanceIdentifier=replica_id, SourceDBInstanceIdentifier=source["DBInstanceArn"],
                    DBInstanceClass=DB_INSTANCE_CLASS, SourceRegion=region,
                    DBSubnetGroupName=self._subnet_group(stack.replica_region, subnets), Tags=self.created_tags)
            replica = self._handle(self._wait_available(stack.replica_region, replica_id), stack.replica_region, secret_id)
        return primary, replica

    # -- checkout fleet --------------------------------------------------------------------------

    def checkout_fleet(self, subnets: list[SubnetHandle], database: DatabaseHandle | None) -> list[InstanceHandle]:
        if database is None:
            raise BuildError("the checkout fleet needs the orders database; set stack.database_region")
        per_az = self.env.stack.checkout_instances_per_az
        user_data = checkout_user_data(database, record_names(self.env.stack.zone).database,
                                       self.env.stack.checkout_port, self.options.checkout_package,
                                       self.options.stack_name if self.options.catalog else None)
        handles = []
        for region in self.env.regions:
            ec2 = self.client("ec2", region)
            image_id: str | None = None
            found = [i for r in ec2.describe_instances(Filters=self._tag_filter() + [
                {"Name": f"tag:{ROLE_TAG}", "Values": [CHECKOUT_ROLE]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ])["Reservations"] for i in r["Instances"]]
            for subnet in (s for s in subnets if s.region == region):
                mine = [i for i in found if i.get("SubnetId") == subnet.subnet_id]
                missing = per_az - len(mine)
                if missing > 0:
                    image_id = image_id or ami.image_id(self.client("ssm", region), ec2, CHECKOUT_INSTANCE_TYPE, region)
                    profile = {"IamInstanceProfile": {"Name": self.options.instance_profile}} \
                        if self.options.instance_profile else {}
                    mine += ec2.run_instances(
                        ImageId=image_id, InstanceType=CHECKOUT_INSTANCE_TYPE, MinCount=missing,
                        MaxCount=missing, SubnetId=subnet.subnet_id, UserData=user_data, **profile,
                        TagSpecifications=[{"ResourceType": "instance", "Tags": self.created_tags + [
                            {"Key": ROLE_TAG, "Value": CHECKOUT_ROLE},
                            {"Key": "Name", "Value": f"checkout-{subnet.availability_zone}"}]}])["Instances"]
                handles += [InstanceHandle(i["InstanceId"], region, subnet.availability_zone, subnet.subnet_id,
                                           i["PrivateIpAddress"], "", self.env.stack.checkout_port) for i in mine]
        return handles

    # -- Route 53 --------------------------------------------------------------------------------

    def hosted_zone(self) -> str:
        route53 = self.client("route53", "us-east-1")
        zone = self.env.stack.zone
        for candidate in route53.list_hosted_zones_by_name(DNSName=zone)["HostedZones"]:
            if candidate["Name"] == zone:
                return str(candidate["Id"]).split("/")[-1]
        created = route53.create_hosted_zone(Name=zone, CallerReference=f"{self.options.stack_name}-{zone}",
                                             HostedZoneConfig={"Comment": "SecureCart (gameday reference stack)"})
        zone_id = str(created["HostedZone"]["Id"]).split("/")[-1]
        route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id, AddTags=self.created_tags)
        return zone_id

    def _tag_zone(self, zone_id: str) -> None:
        """The stack tag on the zone: the runbook step that repoints the writer name targets it (faults.runbook)."""
        route53 = self.client("route53", "us-east-1")
        tags = route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"].get("Tags")
        if not any(t["Key"] == STACK_TAG for t in tags or []):
            route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id, AddTags=self.tags)

    def writer_record(self, zone_id: str, database: DatabaseHandle | None) -> None:
        """The writer CNAME, when missing (``converge`` points a drifted one back first)."""
        if database is None or not database.endpoint:
            return
        name = record_names(self.env.stack.zone).database
        route53 = self.client("route53", "us-east-1")
        existing = route53.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=name, StartRecordType="CNAME",
                                                     MaxItems="1")["ResourceRecordSets"]
        if existing and existing[0]["Name"] == name and existing[0]["Type"] == "CNAME":
            return
        self._change_records(zone_id, {"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": "CNAME", "TTL": WRITER_TTL_S,
                                                       "ResourceRecords": [{"Value": database.endpoint}]}}]})

    def _change_records(self, zone_id: str, batch: dict[str, Any]) -> None:
        """ChangeResourceRecordSets, then wait until Route 53 says INSYNC (every name server serves it):
        the change is only PENDING when the call returns, and what comes next resolves these names."""
        route53 = self.client("route53", "us-east-1")
        change = route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch=batch)["ChangeInfo"]
        route53.get_waiter("resource_record_sets_changed").wait(
            Id=change["Id"], WaiterConfig={"Delay": self.options.wait_delay_s, "MaxAttempts": self.options.wait_attempts})

    def health_checks(self, instances: list[InstanceHandle]) -> list[InstanceHandle]:
        route53 = self.client("route53", "us-east-1")
        existing = {(c["HealthCheckConfig"].get("IPAddress"), c["HealthCheckConfig"].get("Port")): c["Id"]
                    for page in route53.get_paginator("list_health_checks").paginate() for c in page["HealthChecks"]}
        stack = self.env.stack
        result = []
        for instance in instances:
            check_id = existing.get((instance.private_ip, instance.port))
            if check_id is None:
                check_id = route53.create_health_check(
                    CallerReference=f"{self.options.stack_name}-{instance.instance_id}",
                    HealthCheckConfig={"Type": "HTTP", "IPAddress": instance.private_ip, "Port": instance.port,
                                       "ResourcePath": "/health", "RequestInterval": stack.health_check_interval_s,
                                       "FailureThreshold": stack.health_check_failure_threshold,
                                       "Regions": list(self.env.health_checker_regions)})["HealthCheck"]["Id"]
                route53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check_id, AddTags=self.created_tags + [
                    {"Key": "Name", "Value": f"checkout-{instance.instance_id}"}])
            result.append(InstanceHandle(**{**instance.__dict__, "health_check_id": check_id}))
        return result

    def wait_healthy(self, instances: list[InstanceHandle]) -> None:
        """Wait until Route 53 sees every checkout instance healthy: the fleet is serving, not merely launched.

        A check is healthy when more than 18% of its checkers report success (AWS's rule). Raises
        BuildError naming the instances still unhealthy after the deadline.
        """
        route53 = self.client("route53", "us-east-1")
        waiting = {i.health_check_id: i for i in instances}
        last: dict[str, str] = {}

        def all_healthy() -> bool:
            for check_id in list(waiting):
                observations = route53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
                passing = [o for o in observations if o["StatusReport"]["Status"].startswith("Success")]
                if observations and len(passing) / len(observations) > 0.18:
                    del waiting[check_id]
                elif observations:
                    last[check_id] = observations[0]["StatusReport"]["Status"]
            return not waiting

        try:
            until(all_healthy, self.options.wait_delay_s * self.options.wait_attempts, interval_s=self.options.wait_delay_s)
        except DeadlineExceeded as error:
            raise BuildError("checkout instances not healthy in Route 53 after "
                             f"{self.options.wait_delay_s * self.options.wait_attempts:.0f} s: " + "; ".join(
                                 f"{i.instance_id} ({i.private_ip}): {last.get(c, 'no observations')}"
                                 for c, i in waiting.items())) from error

    def records(self, zone_id: str, instances: list[InstanceHandle]) -> None:
        self._change_records(zone_id, {"Comment": "SecureCart reference stack",
                                       "Changes": self.record_changes(zone_id, instances)})

    def record_changes(self, zone_id: str, instances: list[InstanceHandle]) -> list[dict[str, Any]]:
        """The record tree's UPSERTs (the writer CNAME is written apart: writer_record)."""
        names = record_names(self.env.stack.zone)
        ttl = self.env.stack.record_ttl_s
        changes: list[dict[str, Any]] = []

        def upsert(record: dict[str, Any]) -> None:
            changes.append({"Action": "UPSERT", "ResourceRecordSet": record})

        def alias(name: str) -> dict[str, Any]:
            return {"HostedZoneId": zone_id, "DNSName": name, "EvaluateTargetHealth": True}

        for instance in instances:
            upsert({"Name": names.regional(instance.region), "Type": "A", "TTL": ttl,
                    "SetIdentifier": instance.instance_id, "MultiValueAnswer": True,
                    "HealthCheckId": instance.health_check_id, "ResourceRecords": [{"Value": instance.private_ip}]})
        active = self.env.active_regions
        for region in active:
            upsert({"Name": names.latency, "Type": "A", "SetIdentifier": region, "Region": region,
                    "AliasTarget": alias(names.regional(region))})
        if EU_REGION in active:
            upsert({"Name": names.geo, "Type": "A", "SetIdentifier": "europe", "GeoLocation": {"ContinentCode": "EU"},
                    "AliasTarget": alias(names.regional(EU_REGION))})
        upsert({"Name": names.geo, "Type": "A", "SetIdentifier": "default", "GeoLocation": {"CountryCode": "*"},
                "AliasTarget": alias(names.latency)})
        upsert({"Name": names.checkout, "Type": "A", "SetIdentifier": "primary", "Failover": "PRIMARY",
                "AliasTarget": alias(names.geo)})
        for dr_region in self.env.dr_regions[:1]:
            upsert({"Name": names.checkout, "Type": "A", "SetIdentifier": "secondary", "Failover": "SECONDARY",
                    "AliasTarget": alias(names.regional(dr_region))})
        if len(active) >= 2:
            for region, weight in ((active[0], 90), (active[1], 10)):
                upsert({"Name": names.canary, "Type": "A", "SetIdentifier": f"{region}-{weight}", "Weight": weight,
                        "AliasTarget": alias(names.regional(region))})
        return changes
