"""The version_key boot contract (docs/BOOT-CONTRACT.md) on moto's S3: what the deploy tool writes for a
color, and what an instance of each color then boots (``boot_read``, the contract's statement)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bgctl.bootcontract import boot_read, record_color_build, write_version_object
from bgctl.errors import BlueGreenError
from bgctl.wiring import parse_wiring

BUCKET = "compiler-explorer"
LIVE, BLUE, GREEN = "version/release", "version/release.blue", "version/release.green"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def _wiring(contract: str = "version_key") -> Any:
    keys = {"live": LIVE, "blue": BLUE, "green": GREEN} if contract == "version_key" else {}
    doc = {
        "schema_version": 1,
        "environment": "prod",
        "routing": "listener_default",
        "asg_names": {"blue": "prod-blue", "green": "prod-green"},
        "target_group_arns": {"blue": "arn:tg/blue", "green": "arn:tg/green"},
        "listener_arns": {"https": "arn:l/https"},
        "rule_arns": {},
        "path_patterns": [],
        "rule_priority": None,
        "capacity": {"min_size": 0, "max_size": 4, "min_healthy": 1},
        "version_parameters": {c: f"/compiler-explorer/prod/{c}/version" for c in ("blue", "green")},
        "boot": {"contract": contract, "version_keys": keys},
        "builds": {"bucket": BUCKET, "prefix": "dist/gh/", "discovery_prefix": "dist/discovery/"},
    }
    return parse_wiring("prod", json.dumps(doc))


@pytest.fixture
def s3() -> Any:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        for number in (100, 101):
            client.put_object(Bucket=BUCKET, Key=f"dist/gh/main/{number}.tar.xz", Body=b"build")
            client.put_object(Bucket=BUCKET, Key=f"dist/gh/main/{number}.static.tar.xz", Body=b"static")
        write_version_object(client, BUCKET, LIVE, "dist/gh/main/100.tar.xz")  # what serves today
        yield client


def _boots(s3: Any, color: str, *, reads_color_key: bool = True) -> str | None:
    keys = dict(_wiring().boot.version_keys)
    return boot_read(s3, BUCKET, keys, color, reads_color_key=reads_color_key)


def test_a_deployed_color_boots_its_build_and_the_other_keeps_the_live_one(s3):
    written = record_color_build(SimpleNamespace(s3=s3), _wiring(), "green", "gh-101")
    assert written == "dist/gh/main/101.tar.xz"  # the build, never its static files
    assert _boots(s3, "green") == "dist/gh/main/101.tar.xz"
    assert _boots(s3, "blue") == "dist/gh/main/100.tar.xz"  # no blue key: the live one
    grants = s3.get_object_acl(Bucket=BUCKET, Key=GREEN)["Grants"]
    assert any(g["Grantee"].get("URI") == ALL_USERS and g["Permission"] == "READ" for g in grants)


def test_undoing_a_color_removes_its_key_so_it_boots_the_live_build_again(s3):
    clients = SimpleNamespace(s3=s3)
    record_color_build(clients, _wiring(), "green", "gh-101")
    assert record_color_build(clients, _wiring(), "green", None) is None
    assert _boots(s3, "green") == "dist/gh/main/100.tar.xz"


def test_without_the_ami_side_change_both_colors_boot_the_live_key(s3):
    record_color_build(SimpleNamespace(s3=s3), _wiring(), "green", "gh-101")
    assert _boots(s3, "green", reads_color_key=False) == "dist/gh/main/100.tar.xz"


def test_a_version_without_a_build_is_refused_and_nothing_is_written(s3):
    with pytest.raises(BlueGreenError, match="no build gh-999"):
        record_color_build(SimpleNamespace(s3=s3), _wiring(), "green", "gh-999")
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=GREEN).get("KeyCount") == 0


def test_the_user_data_contract_writes_no_s3_key(s3):
    assert record_color_build(SimpleNamespace(s3=s3), _wiring("user_data"), "green", "gh-101") is None
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=GREEN).get("KeyCount") == 0
