"""EC2 rules AWS enforces and moto does not (network ACLs; sources in docs/aws-semantics.md)."""
from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Mapping

from base.numbers import whole_number
from stack.local.controlplane import backends
from stack.local.awserror import AwsError
from stack.local.part import ApiRequest


def _network_acl(request: ApiRequest, acl_id: str | None) -> Any:
    acl = backends.ec2(request.region).network_acls.get(acl_id)
    if acl is None:
        raise AwsError("InvalidNetworkAclID.NotFound", f"The networkAcl ID '{acl_id}' does not exist")
    return acl


def replace_network_acl_association(request: ApiRequest, plane: Any) -> None:
    # moto removes the old association before it looks up the new NACL, so both ids are checked
    # here first: a bad request must change nothing.
    association_id = request.params.get("AssociationId")
    acls = backends.ec2(request.region).network_acls.values()
    if not any(association_id in acl._associations for acl in acls):
        raise AwsError("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist")
    _network_acl(request, request.params.get("NetworkAclId"))


_IPV4_CIDR = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})$")
_PORTS = ("PortRange.From", "PortRange.To")
_ICMP = ("Icmp.Type", "Icmp.Code")


def _invalid_cidr(value: str, name: str) -> AwsError:
    return AwsError("InvalidParameterValue", f"Value ({value}) for parameter {name} is invalid. This is not a valid CIDR block.")


def _canonical_cidr(params: Mapping[str, Any]) -> dict[str, str]:
    """The entry's CIDR in canonical form (AWS stores 100.68.0.18/18 as 100.68.0.0/18), or the error AWS gives."""
    cidr, cidr6 = params.get("CidrBlock"), params.get("Ipv6CidrBlock")
    if cidr is None and cidr6 is None:
        raise AwsError("MissingParameter", "Either 'cidrBlock' or 'ipv6CidrBlock' should be provided.")
    if cidr is not None and cidr6 is not None:
        raise AwsError("InvalidParameterCombination", "Only one of 'cidrBlock' or 'ipv6CidrBlock' can be provided.")
    if cidr is not None:
        match = _IPV4_CIDR.match(str(cidr))
        try:
            if match and int(match[5]) <= 32:
                return {"CidrBlock": str(ipaddress.IPv4Network(str(cidr), strict=False))}
        except ValueError:  # an octet above 255, or with a leading zero
            pass
        raise _invalid_cidr(str(cidr), "cidrBlock")
    try:
        return {"Ipv6CidrBlock": str(ipaddress.IPv6Network(str(cidr6), strict=False))}
    except ValueError:
        raise _invalid_cidr(str(cidr6), "ipv6CidrBlock") from None


def _integer(params: Mapping[str, Any], key: str, low: int, high: int) -> int:
    raw = str(params.get(key))
    if not re.fullmatch(r"-?\d{1,6}", raw) or not low <= int(raw) <= high:
        raise AwsError("InvalidParameterValue", f"Invalid value '{raw}' for {key}: it must be an integer from {low} to {high}")
    return int(raw)


def _protocol_fields(params: Mapping[str, Any]) -> dict[str, str | None]:
    """Check the ports or ICMP type/code the protocol needs; drop those AWS ignores for it."""
    protocol = str(params.get("Protocol"))
    if not re.fullmatch(r"-1|\d{1,3}", protocol) or int(protocol) > 255:
        raise AwsError("InvalidParameterValue", f"Invalid value '{protocol}' for IP protocol. Unknown protocol.")
    if protocol in ("6", "17"):
        if any(params.get(key) is None for key in _PORTS):
            raise AwsError("MissingParameter", f"The request must contain the parameter portRange (protocol {protocol} needs "
                                               f"PortRange.From and PortRange.To)")
        low, high = (_integer(params, key, 0, 65535) for key in _PORTS)
        if low > high:
            raise AwsError("InvalidParameterValue", f"Invalid port range {low}-{high}: PortRange.From must not exceed PortRange.To")
        return {key: None for key in _ICMP if key in params}
    if protocol == "1":
        if any(params.get(key) is None for key in _ICMP):
            raise AwsError("MissingParameter",
                           "The request must contain the parameter icmpTypeCode (protocol 1 needs Icmp.Type and Icmp.Code)")
        for key in _ICMP:
            _integer(params, key, -1, 255)
        return {key: None for key in _PORTS if key in params}
    # Any other protocol applies to every port and type (AWS ignores them), so none is stored.
    return {key: None for key in (*_PORTS, *_ICMP) if key in params}


def _entry(request: ApiRequest, plane: Any) -> dict[str, str | None]:
    acl = _network_acl(request, request.params.get("NetworkAclId"))
    raw = request.params.get("RuleNumber")
    if raw is None or not 1 <= (whole_number(str(raw)) or 0) <= 32766:
        raise AwsError("InvalidParameterValue", f"RuleNumber must be an integer from 1 to 32766, got {raw!r}")
    action = request.params.get("RuleAction")
    if action not in ("allow", "deny"):
        raise AwsError("InvalidParameterValue", f"RuleAction must be 'allow' or 'deny', got {action!r}")
    egress = str(request.params.get("Egress", "false")).lower() == "true"
    exists = any(int(e.rule_number) == int(raw) and str(e.egress).lower() == str(egress).lower()
                 for e in acl.network_acl_entries)
    if request.operation == "CreateNetworkAclEntry" and exists:
        raise AwsError("NetworkAclEntryAlreadyExists",
                       f"The network acl entry identified by {raw} already exists in {'egress' if egress else 'ingress'} of {acl.id}")
    if request.operation == "ReplaceNetworkAclEntry" and not exists:
        raise AwsError("InvalidNetworkAclEntry.NotFound",
                       f"The network acl entry identified by {raw} does not exist in {'egress' if egress else 'ingress'} of {acl.id}")
    return {**_canonical_cidr(request.params), **_protocol_fields(request.params)}


VALIDATE: dict[str, Callable[[ApiRequest, Any], Any]] = {
    "ReplaceNetworkAclAssociation": replace_network_acl_association,
    "CreateNetworkAclEntry": _entry,
    "ReplaceNetworkAclEntry": _entry,
}
AFTER: dict[str, Callable[[ApiRequest, Any], None]] = {}
