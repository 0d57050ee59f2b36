"""Errors of the EC2 data plane and the checkout service, in gameday's hierarchy."""
from __future__ import annotations

from base.errors import GamedayError, StackError


class Ec2PartError(StackError):
    """The EC2 data plane could not start, stop or find a checkout instance."""


class UserDataError(Ec2PartError):
    """A checkout instance's UserData does not follow the checkout contract."""


class CheckoutStartError(Ec2PartError):
    """A checkout process did not start serving."""


class CheckoutError(GamedayError):
    """The checkout service failed."""


class DatabaseUnavailable(CheckoutError):
    """The orders database cannot be reached."""


class EndpointResolutionError(DatabaseUnavailable):
    """The database endpoint's DNS name could not be resolved."""


class CommitNotConfirmed(DatabaseUnavailable):
    """The commit was not confirmed by the database, so the order is not acknowledged."""
