"""AWS Outposts: the API moto lacks, and EC2's rules for subnets and instances on an Outpost.

The Outposts the environment declares (environments/outposts.py) are the account's Outposts:
``ListOutposts``, ``GetOutpost`` and ``ListSites`` answer from them, in the Outposts API's REST-JSON.

EC2 on an Outpost (sources in docs/aws-semantics.md, "Outposts"):
- ``CreateSubnet`` with an ``OutpostArn`` needs an Outpost of this account in the call's Region and
  that Outpost's Availability Zone; the subnet then carries the ARN, which moto does not keep, so it
  is kept on moto's subnet and shown in ``CreateSubnet`` and ``DescribeSubnets``.
- While an Outpost's service link to its parent Region is down, the Region cannot reach the rack:
  launching an instance into one of its subnets fails, and so do starting, stopping, rebooting and
  terminating one there (AWS: "run/start/stop/terminate APIs may not work"). Running instances are
  untouched (they are at the store and keep serving local traffic). The link's state is the fabric's (service ``SiteLinks``).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from environments.outposts import Outpost
from stack.local.awserror import AwsError
from stack.local.controlplane import backends
from stack.local.part import ApiRequest, ApiResponse
from stack.local.services import SiteLinks

JSON = {"Content-Type": "application/json"}
SERVICE_LINK = "service_link"
_OUTPOST_ID = re.compile(r"^(arn:aws([a-z-]+)?:outposts:[a-z\d-]+:\d{12}:outpost/)?(?P<id>op-[a-f0-9]{17})$")
_OUTPOST_ARN = re.compile(r"^arn:aws([a-z-]+)?:outposts:(?P<region>[a-z\d-]+):(?P<account>\d{12}):outpost/(?P<id>op-[a-f0-9]{17})$")
_SUBNET_ID = re.compile(r"<subnetId>(subnet-[0-9a-f]+)</subnetId>")
MAX_RESULTS = 1000


def _outposts(plane: Any) -> Mapping[str, Outpost]:
    return plane.environment.outposts  # type: ignore[no-any-return]


def _az_id(availability_zone: str) -> str:
    """An AZ id in AWS's form (use1-az1): the Region's initials and number, then the zone's position."""
    region, letter = availability_zone[:-1], availability_zone[-1]
    parts = region.split("-")
    return f"{parts[0]}{''.join(p[0] for p in parts[1:-1])}{parts[-1]}-az{ord(letter) - ord('a') + 1}"


def _outpost_json(name: str, outpost: Outpost, account: str) -> dict[str, Any]:
    return {
        "OutpostId": outpost.outpost_id, "OwnerId": account, "OutpostArn": outpost.arn(account),
        "SiteId": outpost.site_id, "SiteArn": outpost.site_arn(account), "Name": name,
        "Description": outpost.description, "LifeCycleStatus": "ACTIVE",
        "AvailabilityZone": outpost.availability_zone, "AvailabilityZoneId": _az_id(outpost.availability_zone),
        "Tags": {}, "SupportedHardwareType": "SERVER",
    }


def _page(request: ApiRequest, items: Sequence[dict[str, Any]], key: str) -> ApiResponse:
    """One page of ``items`` (MaxResults 1-1000; NextToken is the next item's position)."""
    raw_max, token = request.params.get("MaxResults"), request.params.get("NextToken")
    try:
        size = int(raw_max) if raw_max is not None else MAX_RESULTS
        start = int(token) if token is not None else 0
    except ValueError:
        raise AwsError("ValidationException", f"MaxResults {raw_max!r} or NextToken {token!r} is not valid") from None
    if not 1 <= size <= MAX_RESULTS:
        raise AwsError("ValidationException", f"MaxResults {size} is not valid; it must be between 1 and {MAX_RESULTS}")
    if not 0 <= start <= len(items):
        raise AwsError("ValidationException", f"NextToken {token!r} is not valid")
    body: dict[str, Any] = {key: list(items[start:start + size])}
    if start + size < len(items):
        body["NextToken"] = str(start + size)
    return ApiResponse(200, json.dumps(body).encode(), dict(JSON))


def _here(request: ApiRequest, plane: Any) -> list[tuple[str, Outpost]]:
    """The Outposts homed in the call's Region: the Outposts API is Regional, as each rack's parent is."""
    return [(name, o) for name, o in _outposts(plane).items() if o.region == request.region]


def list_outposts(request: ApiRequest, plane: Any) -> ApiResponse:
    account = backends.ACCOUNT_ID
    filters = {"LifeCycleStatusFilter": "LifeCycleStatus", "AvailabilityZoneFilter": "AvailabilityZone",
               "AvailabilityZoneIdFilter": "AvailabilityZoneId"}
    items = [_outpost_json(name, o, account) for name, o in _here(request, plane)]
    for parameter, field in filters.items():
        wanted = request.params.get(parameter)
        if wanted is not None:
            items = [item for item in items if item[field] == wanted]
    return _page(request, items, "Outposts")


def _find(request: ApiRequest, plane: Any, given: str) -> tuple[str, Outpost]:
    match = _OUTPOST_ID.match(given)
    if match is None:
        raise AwsError("ValidationException", f"OutpostId {given!r} is not valid: give an Outpost id (op- and 17 hex "
                                              "digits) or its ARN")
    for name, outpost in _here(request, plane):
        if outpost.outpost_id == match["id"]:
            return name, outpost
    raise AwsError("NotFoundException", f"Outpost {match['id']} not found in {request.region}", 404)


def get_outpost(request: ApiRequest, plane: Any) -> ApiResponse:
    name, outpost = _find(request, plane, unquote(str(request.params.get("OutpostId", ""))))
    body = {"Outpost": _outpost_json(name, outpost, backends.ACCOUNT_ID)}
    return ApiResponse(200, json.dumps(body).encode(), dict(JSON))


def list_sites(request: ApiRequest, plane: Any) -> ApiResponse:
    account = backends.ACCOUNT_ID
    sites: dict[str, dict[str, Any]] = {}
    for _name, o in _here(request, plane):
        sites.setdefault(o.site_id, {
            "SiteId": o.site_id, "AccountId": account, "Name": o.site, "Description": o.description,
            "Tags": {}, "SiteArn": o.site_arn(account), "OperatingAddressCountryCode": o.country_code,
            "OperatingAddressStateOrRegion": o.state_or_region, "OperatingAddressCity": o.city,
        })
    items = list(sites.values())
    filters = {"OperatingAddressCountryCodeFilter": "OperatingAddressCountryCode",
               "OperatingAddressStateOrRegionFilter": "OperatingAddressStateOrRegion",
               "OperatingAddressCityFilter": "OperatingAddressCity"}
    for parameter, field in filters.items():
        wanted = request.params.get(parameter)
        if wanted is not None:
            items = [item for item in items if item[field] == wanted]
    return _page(request, items, "Sites")


ANSWER = {"ListOutposts": list_outposts, "GetOutpost": get_outpost, "ListSites": list_sites}


# -- EC2 on an Outpost --------------------------------------------------------------------------------

def outpost_of_arn(plane: Any, arn: str) -> tuple[str, Outpost] | None:
    match = _OUTPOST_ARN.match(arn)
    if match is None or match["account"] != backends.ACCOUNT_ID:
        return None
    for name, outpost in _outposts(plane).items():
        if outpost.outpost_id == match["id"] and outpost.region == match["region"]:
            return name, outpost
    return None


def validate_create_subnet(request: ApiRequest, plane: Any) -> None:
    arn = request.params.get("OutpostArn")
    if arn is None:
        return
    found = outpost_of_arn(plane, str(arn))
    if found is None or found[1].region != request.region:
        raise AwsError("InvalidParameterValue", f"Value ({arn}) for parameter outpostArn is invalid. "
                                                f"No Outpost with this ARN exists in {request.region} for this account.")
    zone = request.params.get("AvailabilityZone")
    if zone != found[1].availability_zone:
        raise AwsError("InvalidParameterValue", f"Value ({zone}) for parameter availabilityZone is invalid. A subnet on "
                                                f"Outpost {found[1].outpost_id} must be in its Availability Zone "
                                                f"{found[1].availability_zone}.")


def remember_subnet_outpost(request: ApiRequest, response: ApiResponse, plane: Any) -> ApiResponse:
    """Keep a new subnet's OutpostArn on moto's subnet (moto drops it), and show it in the answer."""
    arn = request.params.get("OutpostArn")
    found = _SUBNET_ID.search(response.body.decode())
    if response.status < 300 and arn is not None and found is not None:
        subnet = backends.ec2(request.region).get_subnet(found[1])
        subnet.gameday_outpost_arn = str(arn)
    return show_subnet_outposts(request, response, plane)


def show_subnet_outposts(request: ApiRequest, response: ApiResponse, plane: Any) -> ApiResponse:
    """``<outpostArn>`` in each subnet of the answer that stands on an Outpost, as EC2 shows it."""
    if response.status >= 300:
        return response
    subnets = backends.ec2(request.region).subnets
    arns = {s.id: getattr(s, "gameday_outpost_arn", None) for zone in subnets.values() for s in zone.values()}

    def add(match: re.Match[str]) -> str:
        arn = arns.get(match[1])
        return match[0] + (f"<outpostArn>{arn}</outpostArn>" if arn else "")

    return ApiResponse(response.status, _SUBNET_ID.sub(add, response.body.decode()).encode(), response.headers)


def subnet_outpost(plane: Any, region: str, subnet_id: str) -> tuple[str, Outpost] | None:
    """The Outpost a subnet stands on, or None for a subnet in the Region (or an unknown one: moto judges)."""
    subnets = backends.ec2(region).subnets
    for zone in subnets.values():
        subnet = zone.get(subnet_id)
        if subnet is not None:
            arn = getattr(subnet, "gameday_outpost_arn", None)
            return outpost_of_arn(plane, arn) if arn else None
    return None


def _launch_subnets(params: Mapping[str, Any]) -> set[str]:
    """Every subnet a RunInstances call places an instance in (SubnetId, or its network interfaces')."""
    found = {str(params["SubnetId"])} if params.get("SubnetId") else set()
    found |= {str(v) for k, v in params.items() if re.fullmatch(r"NetworkInterface\.\d+\.SubnetId", k)}
    return found


def service_link_down(plane: Any, outpost: Outpost) -> bool:
    """Whether the Outpost's service link is cut, or BGP no longer routes over it (the fabric's view)."""
    links = plane.services.find(SiteLinks)
    if links is None:
        return False  # no fabric in this stack: nothing carries a service link, so nothing can cut one
    mine = [link for link in links.link_states() if link.get("site") == outpost.site
            and link.get("region") == outpost.region and link.get("kind") == SERVICE_LINK]
    return not any(link.get("up") and link.get("advertised") for link in mine)


def _refuse_if_offline(plane: Any, region: str, subnet_ids: set[str], doing: str) -> None:
    for subnet_id in sorted(subnet_ids):
        found = subnet_outpost(plane, region, subnet_id)
        if found is not None and service_link_down(plane, found[1]):
            name, outpost = found
            raise AwsError("Unavailable", f"Outpost {outpost.outpost_id} ({name}) cannot be reached: the service link "
                                          f"between site {outpost.site} and {outpost.region} is down, so {doing} on it "
                                          "cannot be done now. Instances already running on it keep running; try again "
                                          "once the link is back.", 503, sender=False)


def validate_run_instances(request: ApiRequest, plane: Any) -> None:
    _refuse_if_offline(plane, request.region, _launch_subnets(request.params), "launching an instance")


def validate_instance_state_change(request: ApiRequest, plane: Any) -> None:
    """Start, stop, reboot or terminate an instance on a disconnected Outpost: the Region cannot reach its host."""
    subnets = set()
    backend = backends.ec2(request.region)
    for key, value in request.params.items():
        if re.fullmatch(r"InstanceId\.\d+", key):
            try:
                subnet = getattr(backend.get_instance(str(value)), "subnet_id", None)
            except Exception:  # noqa: BLE001 - an unknown instance is moto's to refuse, with its own error
                continue
            if subnet:
                subnets.add(str(subnet))
    _refuse_if_offline(plane, request.region, subnets, f"{request.operation}")


VALIDATE_EC2 = {"CreateSubnet": validate_create_subnet, "RunInstances": validate_run_instances,
                **{op: validate_instance_state_change for op in ("StartInstances", "StopInstances", "RebootInstances",
                                                                 "TerminateInstances")}}
SHOWN_EC2 = {"CreateSubnet": remember_subnet_outpost, "DescribeSubnets": show_subnet_outposts}
