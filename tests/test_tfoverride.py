"""When may Terraform run? Exactly when the root's provider talks to the AWS the tool talks to."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgctl.errors import TerraformError
from bgctl.sandbox.server import FAKE_AWS_ENV
from bgctl.terraform import TerraformRoot, try_init
from bgctl.tfoverride import (
    OVERRIDE_FILE,
    SANDBOX_SERVICES,
    endpoint_problem,
    normalize_endpoint,
    read_override,
    render_override,
    targets_sandbox,
    write_override,
)

URL = "http://127.0.0.1:4566"


def _sandbox_env(url: str = URL, **extra: str) -> dict[str, str]:
    return {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": url, **extra}


@pytest.fixture
def root(tmp_path):
    directory = tmp_path / "beta"
    directory.mkdir()
    (directory / "main.tf").write_text("# a root\n")
    return directory


def test_the_generated_override_covers_every_service_with_the_local_backend_and_fake_keys(root):
    write_override(root, URL + "/")
    override = read_override(root)
    assert override is not None
    assert override.endpoints == dict.fromkeys(SANDBOX_SERVICES, URL)
    assert override.backends == ("local",)
    assert (override.access_key, override.secret_key) == ("testing", "testing")
    doc = json.loads((root / OVERRIDE_FILE).read_text())
    aws = doc["provider"]["aws"]
    for flag in ("skip_credentials_validation", "skip_metadata_api_check", "skip_region_validation"):
        assert aws[flag] is True
    assert aws["s3_use_path_style"] is True
    assert "allowed_account_ids" not in aws and "region" not in aws  # the root's own stay in force


def test_a_sandbox_root_runs_against_its_own_sandbox_with_fake_keys(root):
    write_override(root, URL)
    assert endpoint_problem(root, _sandbox_env()) is None
    assert endpoint_problem(root, _sandbox_env(URL + "/")) is None
    # "The same endpoint" is literal: localhost may well be ::1, another server.
    assert endpoint_problem(root, _sandbox_env("http://localhost:4566")) is not None
    assert targets_sandbox(root, _sandbox_env())


def test_a_root_without_override_is_refused_against_a_local_endpoint(root):
    problem = endpoint_problem(root, _sandbox_env())
    assert problem is not None
    assert problem.startswith(f"AWS_ENDPOINT_URL points at a local endpoint ({URL}) but {root} has no")
    assert "\n" not in problem
    assert not targets_sandbox(root, _sandbox_env())


def test_a_plain_root_runs_against_real_aws(root):
    assert endpoint_problem(root, {"AWS_PROFILE": "prod"}) is None
    assert (
        endpoint_problem(root, {"AWS_ENDPOINT_URL": "https://elasticloadbalancing.us-east-1.amazonaws.com"})
        is None
    )


@pytest.mark.parametrize("endpoint", [None, "https://ec2.us-east-1.amazonaws.com"])
def test_a_sandbox_root_never_runs_against_real_aws(root, endpoint):
    write_override(root, URL)
    environ = {"AWS_ENDPOINT_URL": endpoint} if endpoint else {}
    problem = endpoint_problem(root, environ)
    assert problem is not None and f"configured for the sandbox at {URL}" in problem


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"AWS_PROFILE": "prod"}, "AWS_PROFILE is set"),
        ({"AWS_ROLE_ARN": "arn:aws:iam::052730242331:role/deploy"}, "AWS_ROLE_ARN is set"),
        ({"AWS_ACCESS_KEY_ID": "AKIAREALKEY"}, "not the sandbox's fake keys"),
        ({"AWS_SECRET_ACCESS_KEY": "real-secret"}, "not the sandbox's fake keys"),
    ],
)
def test_a_sandbox_root_never_runs_with_real_credentials(root, extra, why):
    write_override(root, URL)
    problem = endpoint_problem(root, _sandbox_env(**extra))
    assert problem is not None and why in problem


def test_missing_credentials_are_refused_too(root):
    write_override(root, URL)
    environ = _sandbox_env()
    del environ["AWS_ACCESS_KEY_ID"]  # boto3 would go looking for real ones
    assert "fake keys" in (endpoint_problem(root, environ) or "")


def _edit_override(root, edit) -> None:
    path = root / OVERRIDE_FILE
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda d: d["provider"]["aws"]["endpoints"][0].pop("sts"), "no endpoint for sts"),
        (
            lambda d: d["provider"]["aws"]["endpoints"][0].update(ssm="https://ssm.us-east-1.amazonaws.com"),
            "points ssm=https://ssm.us-east-1.amazonaws.com elsewhere",
        ),
        (lambda d: d["terraform"].update(backend={"s3": {}}), "must configure the local backend"),
        (lambda d: d["provider"]["aws"].pop("access_key"), "fake keys"),
        (lambda d: d.clear(), "no endpoint for acm"),
    ],
)
def test_a_tampered_override_is_refused(root, edit, why):
    write_override(root, URL)
    _edit_override(root, edit)
    problem = endpoint_problem(root, _sandbox_env())
    assert problem is not None and why in problem


def test_an_unreadable_override_is_refused(root):
    (root / OVERRIDE_FILE).write_text("{not json")
    assert "is not readable JSON" in (endpoint_problem(root, _sandbox_env()) or "")
    assert "is not readable JSON" in (endpoint_problem(root, {}) or "")


def test_an_override_must_point_at_loopback():
    with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
        render_override("https://ec2.us-east-1.amazonaws.com")


ports = st.integers(min_value=1, max_value=65535)
loopbacks = st.sampled_from(["127.0.0.1", "127.0.0.2", "localhost"])


@given(host=loopbacks, port=ports, other_port=ports, slash=st.booleans())
def test_property_only_the_same_endpoint_is_accepted(tmp_path_factory, host, port, other_port, slash):
    root = tmp_path_factory.mktemp("root")
    write_override(root, f"http://{host}:{port}")
    same = f"http://{host}:{port}" + ("/" if slash else "")
    assert endpoint_problem(root, _sandbox_env(same)) is None
    other = f"http://{host}:{other_port}"
    accepted = endpoint_problem(root, _sandbox_env(other)) is None
    assert accepted == (normalize_endpoint(other) == normalize_endpoint(same))


def test_terraform_root_refuses_before_running_anything(root, tmp_path):
    tf = TerraformRoot(root, "/nonexistent/terraform", env=_sandbox_env())
    ok, reason = try_init(tf)
    assert not ok and reason.startswith("AWS_ENDPOINT_URL points at a local endpoint")
    with pytest.raises(TerraformError, match="terraform plan refused: AWS_ENDPOINT_URL points"):
        tf.plan_to_file(tmp_path / "x.tfplan")
    assert tf.environ["TF_CLI_CONFIG_FILE"].endswith("terraformrc")
