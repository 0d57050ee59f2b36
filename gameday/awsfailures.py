"""What the CLI says, and exits with, when an AWS SDK call fails in a routine way (no traceback).

An unreachable endpoint (the local stack is down, no network), a 5xx or a throttled call (after
botocore's retries) is UNREACHABLE; missing, partial or rejected credentials, an unknown profile and any
other refused request are USAGE (the set-up is wrong, not the system under test). FAILED stays what it
means for every command: a verdict failed, or something is left over.
"""
from __future__ import annotations

from base import exitcodes


def aws_failure(error: Exception) -> tuple[int, str] | None:
    """A botocore exception as (exit code, one line), or None when it is not one we expect."""
    from botocore import exceptions as aws

    if isinstance(error, (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ReadTimeoutError,
                          aws.ConnectionClosedError)):
        endpoint = getattr(error, "kwargs", {}).get("endpoint_url", "the AWS endpoint")
        return exitcodes.UNREACHABLE, (f"cannot reach {endpoint} ({type(error).__name__}); for the local stack, "
                                       f"start it with `gameday stack up --detach` (instance: --instance or GAMEDAY_INSTANCE)")
    if isinstance(error, (aws.NoCredentialsError, aws.PartialCredentialsError)):
        return exitcodes.USAGE, (f"{error}: give credentials through the environment's profile, AWS_PROFILE, "
                                 f"or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    if isinstance(error, (aws.ProfileNotFound, aws.NoRegionError)):
        return exitcodes.USAGE, f"{error}; check AWS_PROFILE / the environment file's profile and ~/.aws/config"
    if isinstance(error, aws.ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        # botocore's own list of throttling codes (what its standard retry mode backs off on).
        from botocore.retries.standard import ThrottledRetryableChecker

        if status >= 500 or status == 429 or code in ThrottledRetryableChecker._THROTTLED_ERROR_CODES:
            # The service did not do its part (after botocore's retries): infrastructure, not a verdict.
            return exitcodes.UNREACHABLE, str(error)
        # Credentials, permissions, or a request built from a wrong setting (a Region, an identifier).
        return exitcodes.USAGE, str(error)
    if isinstance(error, aws.WaiterError):
        return exitcodes.FAILED, str(error)  # the resource never reached the state: something is left to look at
    if isinstance(error, aws.ParamValidationError):
        return exitcodes.USAGE, " ".join(str(error).split())  # botocore reports each parameter on a line of its own
    if isinstance(error, aws.BotoCoreError):
        return exitcodes.UNREACHABLE, str(error)  # TLS, proxy and HTTP client failures on the way to AWS
    return None

