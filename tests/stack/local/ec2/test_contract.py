"""The checkout UserData contract: what is accepted, and what is refused with a usable message."""
from __future__ import annotations

import base64
import json

import pytest

from stack.local.ec2.contract import CheckoutUserData, is_checkout
from stack.local.ec2.errors import UserDataError

IID = "i-0123456789abcdef0"


def test_round_trip_through_base64_as_describe_instance_attribute_returns_it() -> None:
    data = CheckoutUserData(db_instance_identifier="orders", db_region="us-east-1", db_user="shop",
                            db_password="pw", port=9090)
    encoded = base64.b64encode(data.to_json().encode()).decode()
    assert CheckoutUserData.parse(encoded, IID) == data
    assert CheckoutUserData.parse(data.to_json(), IID) == data


def test_empty_user_data_means_no_database() -> None:
    assert not CheckoutUserData.parse(None, IID).wants_database
    assert not CheckoutUserData.parse("{}", IID).wants_database


def test_secret_instead_of_password() -> None:
    data = CheckoutUserData.parse(json.dumps({"db_endpoint": "orders.abc.us-east-1.rds.amazonaws.com",
                                              "db_secret_id": "orders-master"}), IID)
    assert data.wants_database and data.db_secret_id == "orders-master"


@pytest.mark.parametrize(("document", "message"), [
    ("[1]", "must be a JSON object"),
    ('{"db_endpoint": "a.b", "db_instance_identifier": "x", "db_region": "us-east-1"}', "both db_endpoint"),
    ('{"db_endpoint": "not a name!", "db_user": "u", "db_password": "p"}', "is not a DNS name"),
    ('{"db_instance_identifier": "orders", "db_user": "u", "db_password": "p"}', "without db_region"),
    ('{"db_endpoint": "a.b", "db_user": "u"}', "no credentials"),
    ('{"db_endpoint": "a.b", "db_secret_id": "s", "db_password": "p"}', "both db_password and db_secret_id"),
    ('{"port": 70000}', "out of range"),
    ('{"port": "8080"}', "must be an integer"),
    ('{"dbuser": "u"}', "'dbuser' is unknown"),
])
def test_bad_user_data_names_the_instance_and_the_problem(document: str, message: str) -> None:
    with pytest.raises(UserDataError, match=message) as caught:
        CheckoutUserData.parse(document, IID)
    assert str(caught.value).startswith(IID)


def test_role_tag() -> None:
    assert is_checkout([{"Key": "gameday:role", "Value": "checkout"}])
    assert not is_checkout([{"Key": "gameday:role", "Value": "bastion"}])
    assert not is_checkout(None)
