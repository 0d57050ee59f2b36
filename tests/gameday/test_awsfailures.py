"""Each routine AWS failure maps to the exit code that means it, so 1 keeps meaning 'verdict failed or leftovers'."""
from __future__ import annotations

import pytest
from botocore import exceptions as aws

from base import exitcodes
from gameday.awsfailures import aws_failure
from base.errors import StackDegraded


def _client_error(code: str, status: int) -> aws.ClientError:
    return aws.ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                           "DescribeNetworkAcls")


@pytest.mark.parametrize(("error", "expected"), [
    (_client_error("ServiceUnavailable", 503), exitcodes.UNREACHABLE),  # e.g. a data plane could not apply a change
    (_client_error("InternalFailure", 500), exitcodes.UNREACHABLE),
    (_client_error("RequestLimitExceeded", 400), exitcodes.UNREACHABLE),  # EC2 throttling, after botocore's retries
    (_client_error("TooManyRequestsException", 429), exitcodes.UNREACHABLE),
    (_client_error("AccessDenied", 403), exitcodes.USAGE),
    (_client_error("DBInstanceNotFound", 404), exitcodes.USAGE),  # a wrong identifier or Region in the settings
    (aws.EndpointConnectionError(endpoint_url="http://127.0.0.1:4566"), exitcodes.UNREACHABLE),
    (aws.ParamValidationError(report="bad"), exitcodes.USAGE),
    (aws.WaiterError(name="instance_stopped", reason="max attempts", last_response={}), exitcodes.FAILED),
], ids=lambda value: getattr(value, "__name__", None) or type(value).__name__ if not isinstance(value, int) else str(value))
def test_routine_aws_failures_get_the_code_that_means_them(error: Exception, expected: int) -> None:
    code, line = aws_failure(error)  # type: ignore[misc]
    assert code == expected and "\n" not in line


def test_a_degraded_stack_is_infrastructure_not_usage() -> None:
    assert StackDegraded("fabric: entry skipped").exit_code == exitcodes.UNREACHABLE
