"""Soak the AWS endpoint with malformed and invalid API requests, then prove the stack still works.

Sends REQUESTS (500) requests, a seeded mix of: invalid NACL entries (create and replace), Route 53
health checks and record changes AWS refuses, malformed Route 53 bodies (invalid XML, not XML, XXE,
entity expansion, 1 MB), EC2 calls with a bad, missing or binary Action or a missing parameter,
calls for services the endpoint does not serve, addresses the stack cannot host, and random
garbage bodies and headers. All are signed with botocore's SigV4 except the unsigned garbage.
Goal: every answer is an AWS-style 4xx (an XML or JSON error body, never HTML, never 5xx).

Afterwards it checks that the endpoint and every data plane are still up and still enforcing:
`gameday stack status --json` answers, the checkout name resolves at the local DNS, and swapping a
checkout subnet's NACL to deny-all cuts a connection from a vantage point (restored afterwards).

Runs on GAMEDAY_INSTANCE (default 8); starts the stack and builds the reference stack when needed,
and stops the stack at the end only if it started it. Bounded: DEADLINE_S for the requests, and a
deadline for each post-check. Prints one JSON object.
"""
from __future__ import annotations

import collections
import json
import os
import random
import re
import subprocess
import sys
import time
from typing import Any, Callable

import boto3
import dns.message
import dns.query
import dns.rdatatype
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from environments import loader
from base import net
from stack import builder
from stack.local import attach, supervisor
from benchinstance import bench_instance
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS

REQUESTS = 500
DEADLINE_S = 300.0
SEED = 12
REGION = "us-east-1"
R53 = "/2013-04-01"
R53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
EC2_VERSION = "Version=2016-11-15"
Request = tuple[str, str, str, bytes, dict[str, str], bool]  # service, method, path, body, headers, signed


class Soak:
    def __init__(self, instance: Instance, acl_id: str, zone_id: str, zone_name: str, rng: random.Random) -> None:
        self.url = instance.aws_endpoint
        self.acl_id, self.zone_id, self.zone_name, self.rng = acl_id, zone_id, zone_name, rng

    def nacl_entry(self) -> Request:
        bad = self.rng.choice([
            "CidrBlock=300.1.2.3/40&Protocol=-1", "CidrBlock=not-a-cidr&Protocol=-1", "CidrBlock=999.0.0.0/8&Protocol=-1",
            "Protocol=-1", "CidrBlock=0.0.0.0/0&Protocol=6", "CidrBlock=0.0.0.0/0&Protocol=xyz",
            "CidrBlock=0.0.0.0/0&Protocol=6&PortRange.From=-1&PortRange.To=80",
            "CidrBlock=0.0.0.0/0&Protocol=6&PortRange.From=80&PortRange.To=70000",
            "CidrBlock=0.0.0.0/0&Protocol=17&PortRange.From=90&PortRange.To=80",
        ])
        action = self.rng.choice(["CreateNetworkAclEntry", "ReplaceNetworkAclEntry"])
        # Replace aims at the entry that exists (rule 100), so its values are what is judged.
        rule = 100 if action == "ReplaceNetworkAclEntry" else self.rng.randint(1, 32766)
        body = (f"Action={action}&{EC2_VERSION}&NetworkAclId={self.acl_id}&RuleNumber={rule}"
                f"&RuleAction=deny&Egress=false&{bad}")
        return "ec2", "POST", "/", body.encode(), FORM, True

    def health_check(self) -> Request:
        address, port = self.rng.choice([("0.0.0.0", 80), ("192.0.2.1", 80), ("abc", 80), ("10.0.0.1", 80),
                                         ("127.16.1.10", 70000), ("127.16.1.10", 0)])
        body = (f'<CreateHealthCheckRequest xmlns="{R53_NS}"><CallerReference>{self.rng.random()}</CallerReference>'
                f"<HealthCheckConfig><IPAddress>{address}</IPAddress><Port>{port}</Port><Type>TCP</Type>"
                f"</HealthCheckConfig></CreateHealthCheckRequest>")
        return "route53", "POST", f"{R53}/healthcheck", body.encode(), {}, True

    def record_change(self) -> Request:
        name, kind, value = self.rng.choice([(self.zone_name, "CNAME", "elsewhere.example."),
                                             ("soak." + self.zone_name, "A", "not-an-ip"),
                                             ("soak." + self.zone_name, "AAAA", "127.0.0.1"), ("", "", "")])
        if not kind:
            changes = ""
        else:
            changes = (f"<Change><Action>UPSERT</Action><ResourceRecordSet><Name>{name}</Name><Type>{kind}</Type><TTL>60</TTL>"
                       f"<ResourceRecords><ResourceRecord><Value>{value}</Value></ResourceRecord></ResourceRecords>"
                       f"</ResourceRecordSet></Change>")
        body = (f'<ChangeResourceRecordSetsRequest xmlns="{R53_NS}"><ChangeBatch><Changes>{changes}</Changes></ChangeBatch>'
                f"</ChangeResourceRecordSetsRequest>")
        return "route53", "POST", f"{R53}/hostedzone/{self.zone_id.rsplit('/', 1)[-1]}/rrset", body.encode(), {}, True

    def route53_body(self) -> Request:
        body = self.rng.choice([
            b"<CreateHealthCheckRequest><unclosed", b"plain text, not XML", self.rng.randbytes(512),
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><CreateHealthCheckRequest>&x;'
            b"</CreateHealthCheckRequest>",
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b"<CreateHealthCheckRequest>&b;</CreateHealthCheckRequest>",
            b"<a>" + b"x" * (1 << 20) + b"</a>",
        ])
        return "route53", "POST", f"{R53}/healthcheck", body, {}, True

    def ec2_action(self) -> Request:
        body = self.rng.choice([f"Action=FooBar&{EC2_VERSION}".encode(), EC2_VERSION.encode(), self.rng.randbytes(256),
                                f"Action=CreateNetworkAclEntry&{EC2_VERSION}&RuleNumber=5&Protocol=-1&RuleAction=deny"
                                "&Egress=false&CidrBlock=0.0.0.0/0".encode()])
        return "ec2", "POST", "/", body, FORM, True

    def unknown_service(self) -> Request:
        service = self.rng.choice(["globalaccelerator", "braket", "nosuchservice", "gamelift"])
        headers = {"X-Amz-Target": f"{service}.ListThings", "Content-Type": "application/x-amz-json-1.1"}
        return service, "POST", "/", b"{}", headers, True

    def hosting(self) -> Request:
        cidr = self.rng.choice(["10.0.0.0/16", "192.168.0.0/16", "172.31.0.0/16"])
        return "ec2", "POST", "/", f"Action=CreateVpc&{EC2_VERSION}&CidrBlock={cidr}".encode(), FORM, True

    def garbage(self) -> Request:
        service = self.rng.choice(["ec2", "route53", "rds", "dynamodb", "sts"])
        path = self.rng.choice(["/", f"{R53}/healthcheck", f"/{self.rng.randbytes(6).hex()}"])
        headers = {"Content-Type": self.rng.choice(["application/json", "text/xml", "application/octet-stream",
                                                    "application/x-amz-json-1.0"]),
                   "X-Amz-Target": self.rng.choice(["", "DynamoDB_20120810.Nope", self.rng.randbytes(4).hex()]),
                   "X-Garbage-" + self.rng.randbytes(3).hex(): self.rng.randbytes(8).hex()}
        return service, self.rng.choice(["POST", "PUT"]), path, self.rng.randbytes(self.rng.randint(0, 4096)), headers, \
            self.rng.random() < 0.8

    def categories(self) -> dict[str, Callable[[], Request]]:
        return {"nacl_entry": self.nacl_entry, "health_check": self.health_check, "record_change": self.record_change,
                "route53_body": self.route53_body, "ec2_action": self.ec2_action, "unknown_service": self.unknown_service,
                "hosting": self.hosting, "garbage": self.garbage}

    def send(self, request: Request) -> requests.Response:
        service, method, path, body, headers, is_signed = request
        if is_signed:
            prepared = AWSRequest(method, self.url + path, data=body, headers=headers)
            SigV4Auth(Credentials("testing", "testing"), service, REGION).add_auth(prepared)
            headers = dict(prepared.headers)
        return requests.request(method, self.url + path, data=body, headers=headers, timeout=30)


def error_code(response: requests.Response) -> str:
    text = response.text
    match = re.search(r"<Code>([^<]+)</Code>", text)
    if match:
        return match[1]
    try:
        payload = response.json()
        return str(payload.get("__type") or payload.get("code") or "?")
    except ValueError:
        return "html" if "<html" in text.lower() else "unparsed"


def soak(instance: Instance, acl_id: str, zone_id: str, zone_name: str) -> dict[str, Any]:
    rng = random.Random(SEED)
    runner = Soak(instance, acl_id, zone_id, zone_name, rng)
    categories = runner.categories()
    names = sorted(categories)
    by_status: collections.Counter[str] = collections.Counter()
    by_code: collections.Counter[str] = collections.Counter()
    by_category: dict[str, collections.Counter[str]] = {name: collections.Counter() for name in names}
    bad: list[dict[str, Any]] = []
    started = time.monotonic()
    sent = aws_4xx = 0
    for index in range(REQUESTS):
        if time.monotonic() - started > DEADLINE_S:
            break
        category = names[index % len(names)]
        try:
            response = runner.send(categories[category]())
        except requests.RequestException as error:
            by_status["no-answer"] += 1
            bad.append({"category": category, "error": f"{type(error).__name__}: {error}"[:200]})
            sent += 1
            continue
        sent += 1
        code = error_code(response)
        by_status[str(response.status_code)] += 1
        by_code[code] += 1
        by_category[category][f"{response.status_code} {code}"] += 1
        if 400 <= response.status_code < 500 and code not in ("html", "unparsed"):
            aws_4xx += 1
        else:
            bad.append({"category": category, "status": response.status_code, "body": response.text[:200]})
    elapsed = time.monotonic() - started
    return {"sent": sent, "elapsed_s": round(elapsed, 1), "aws_style_4xx": aws_4xx, "by_status": dict(by_status),
            "by_code": dict(by_code.most_common()),
        "by_category": {k: dict(v) for k, v in by_category.items()}, "not_aws_4xx": bad[:10]}


def wait_for(condition: Callable[[], bool], deadline_s: float) -> float | None:
    """Seconds until ``condition`` held, or None if it never did within ``deadline_s``."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if condition():
            return round(time.monotonic() - started, 2)
        time.sleep(0.2)
    return None


def post_checks(instance: Instance, built: Any, client: Callable[[str, str], Any]) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    status = subprocess.run([sys.executable, "-m", "gameday.cli", "stack", "status", "--json"], capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, GAMEDAY_INSTANCE=str(instance.number)))
    try:
        shown = json.loads(status.stdout)
        unhealthy = {name: list(health.reasons) for name, health in supervisor.degraded_parts(shown).items()}
        checks["stack_status"] = {"ok": status.returncode == 0 and not unhealthy, "unhealthy_parts": unhealthy,
                                  "api_calls": shown.get("api_calls")}
    except ValueError:
        checks["stack_status"] = {"ok": False, "output": (status.stdout + status.stderr)[:300]}

    query = dns.message.make_query(built.names.checkout, dns.rdatatype.A)
    answer = dns.query.udp(query, instance.control_host, port=instance.dns_port, timeout=2)
    checks["dns"] = {"ok": bool(answer.answer), "name": built.names.checkout,
                     "answer": [r.to_text() for rrset in answer.answer for r in rrset][:4]}

    target = next(i for i in built.instances if i.region == REGION)
    vantage = instance.resolved().vantage_points
    source = net.vantage_address(next(vp.subnet for vp in vantage.values() if vp.country == "US"))
    http = net.session(source)
    url = f"http://{target.private_ip}:{target.port}/health"

    def answers() -> bool:
        try:
            return http.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    ec2 = client("ec2", REGION)
    vpc_id = ec2.describe_subnets(SubnetIds=[target.subnet_id])["Subnets"][0]["VpcId"]
    acl = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [target.subnet_id]}])["NetworkAcls"][0]
    association = next(a["NetworkAclAssociationId"] for a in acl["Associations"] if a["SubnetId"] == target.subnet_id)
    deny = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    nacl: dict[str, Any] = {"subnet": target.subnet_id, "from": source, "to": url, "before": answers()}
    try:
        for egress in (False, True):
            ec2.create_network_acl_entry(NetworkAclId=deny, RuleNumber=1, Protocol="-1", RuleAction="deny", Egress=egress,
                                         CidrBlock="0.0.0.0/0")
        association = ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=deny)["NewAssociationId"]
        nacl["cut_after_s"] = wait_for(lambda: not answers(), 20)
    finally:
        ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=acl["NetworkAclId"])
        nacl["restored_after_s"] = wait_for(answers, 30)
        ec2.delete_network_acl(NetworkAclId=deny)
    nacl["ok"] = nacl["before"] and nacl["cut_after_s"] is not None and nacl["restored_after_s"] is not None
    checks["nacl_swap_cuts_checkout"] = nacl
    return checks


def main() -> None:
    environment = loader.load("local")
    instance = Instance(bench_instance(), environment)
    started_here = supervisor.running_pid(instance) is None
    if started_here:
        supervisor.start_detached("local", instance)
    else:
        attach.require_same_scale(instance, instance.environment)
    try:
        session = boto3.session.Session(**LOCAL_CREDENTIALS)

        def client(service: str, region: str) -> Any:
            return session.client(service, region_name=region, endpoint_url=instance.aws_endpoint)

        built = builder.Builder(instance.resolved(), client).build()
        ec2 = client("ec2", REGION)
        junk_acl = ec2.create_network_acl(VpcId=ec2.describe_subnets(SubnetIds=[built.subnets[0].subnet_id])["Subnets"][0]["VpcId"])
        acl_id = junk_acl["NetworkAcl"]["NetworkAclId"]
        ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Protocol="-1", RuleAction="allow", Egress=False,
                                     CidrBlock="0.0.0.0/0")  # so ReplaceNetworkAclEntry has an entry to aim at
        try:
            result = soak(instance, acl_id, built.zone_id, built.zone_name)
        finally:
            ec2.delete_network_acl(NetworkAclId=acl_id)
        result["post_checks"] = post_checks(instance, built, client)
        result["goal"] = f"{REQUESTS} requests, all AWS-style 4xx; stack status, DNS and NACL enforcement intact afterwards"
        result["met"] = (result["aws_style_4xx"] == REQUESTS
                         and all(check.get("ok") for check in result["post_checks"].values()))
        print(json.dumps({"benchmark": "api_soak", "instance": instance.number, **result}, indent=2))
    finally:
        if started_here:
            supervisor.stop(instance)


if __name__ == "__main__":
    main()
