"""RDS rules AWS enforces and moto does not."""
from __future__ import annotations

import copy
from typing import Any, Callable

from base.numbers import whole_number
from stack.local.controlplane import backends
from stack.local.awserror import AwsError
from stack.local.part import ApiRequest
from stack.local.services import DbStatus


def _instance(request: ApiRequest) -> Any:
    identifier = request.params.get("DBInstanceIdentifier")
    database = backends.rds(request.region).databases.get(identifier)
    if database is None:
        raise AwsError("DBInstanceNotFound", f"DBInstance {identifier} not found.", 404)
    return database


def db_status(plane: Any, request: ApiRequest, database: Any) -> str:
    """The instance's real status: the RDS data plane (``DbStatus``) knows it once it exists, moto otherwise."""
    data_plane = plane.services.find(DbStatus) if plane is not None else None
    if data_plane is not None:
        status = data_plane.status_of(database.db_instance_identifier, request.region)
        if status:
            return str(status)
    return str(database.status)


def reboot_db_instance(request: ApiRequest, plane: Any) -> None:
    database = _instance(request)
    force = str(request.params.get("ForceFailover", "false")).lower() == "true"
    status = db_status(plane, request, database)
    if status != "available":
        raise AwsError("InvalidDBInstanceState",
                       f"DB instance {database.db_instance_identifier} is in state {status!r}; it must be 'available' to reboot")
    if force and not database.multi_az:
        raise AwsError("InvalidParameterCombination",
                       f"Cannot force a failover for DB instance {database.db_instance_identifier}: it is not a Multi-AZ instance")


def create_db_instance(request: ApiRequest, plane: Any) -> None:
    identifier = request.params.get("DBInstanceIdentifier", "")
    if identifier in backends.rds(request.region).databases:
        raise AwsError("DBInstanceAlreadyExists", f"DB instance already exists: {identifier}")
    retention = request.params.get("BackupRetentionPeriod")
    days = None if retention is None else whole_number(str(retention))
    if retention is not None and (days is None or days > 35):
        raise AwsError("InvalidParameterValue", f"BackupRetentionPeriod must be between 0 and 35, got {retention}")


VALIDATE: dict[str, Callable[[ApiRequest, Any], None]] = {
    "RebootDBInstance": reboot_db_instance,
    "CreateDBInstance": create_db_instance,
}
AFTER: dict[str, Callable[[ApiRequest, Any], None]] = {}


def fix_cross_region_replicas() -> None:
    """Make moto's cross-Region read replica belong to its own Region.

    moto copies the source instance and keeps its Region and ARN, so the replica's DB subnet group
    is looked up in the source Region (DBSubnetGroupNotFoundFault) and its ARN names the wrong
    Region. AWS creates the replica in the Region the call was made to. Deleting such a replica
    then failed inside moto (its source lists it by ARN); that is fixed too.
    """
    from moto.rds import models

    original = models.RDSBackend.create_db_instance_read_replica
    if getattr(original, "_gameday_fixed", False):
        return

    def create_db_instance_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        source = db_kwargs["source_db_instance_identifier"]
        if self.arn_regex.match(source) and source.split(":")[3] != self.region_name:
            primary = self.find_db_from_id(source)
            replica = copy.copy(primary)
            replica.backend = self  # region and ARN derive from the backend
            db_kwargs["backend"] = self
            replica.update(**db_kwargs)
            replica.set_as_replica()
            self.databases[db_kwargs["db_instance_identifier"]] = replica
            primary.add_replica(replica)
            return replica
        return original(self, db_kwargs)

    create_db_instance_read_replica._gameday_fixed = True  # type: ignore[attr-defined]
    models.RDSBackend.create_db_instance_read_replica = create_db_instance_read_replica  # type: ignore[method-assign]  # fixing moto in place

    def remove_replica(self: Any, replica: Any) -> None:
        # moto lists a cross-Region replica by ARN (add_replica) but removes it by identifier: deleting one raised.
        for name in (replica.db_instance_arn, replica.db_instance_identifier):
            if name in self.replicas:
                self.replicas.remove(name)
                return

    models.DBInstance.remove_replica = remove_replica  # type: ignore[method-assign]  # fixing moto in place
