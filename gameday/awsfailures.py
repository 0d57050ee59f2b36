"""What the CLI says, and exits with, when an AWS SDK call fails in a routine way (no traceback).

An unreachable endpoint (the local stack is down, no network) is UNREACHABLE; missing, partial or
rejected credentials and an unknown profile are USAGE (the set-up is wrong, not the system under test).
"""
from __future__ import annotations

from gameday import exitcodes


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
        auth = code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                        "SignatureDoesNotMatch", "AccessDenied", "AccessDeniedException", "AuthFailure")
        return (exitcodes.USAGE if auth else exitcodes.FAILED), str(error)
    if isinstance(error, aws.BotoCoreError):
        return exitcodes.FAILED, str(error)
    return None
