"""The pieces of the Terraform sandbox that need no Terraform: the child sandbox process, the seeding of
what the roots expect to exist, the apply order, and the refusal where Terraform is missing."""

from __future__ import annotations

import json
import time
import urllib.request

import boto3
import pytest

from bgctl.envspec import ENVS_DIR, environment_names
from bgctl.errors import TerraformError
from bgctl.sandbox.clients import make_clients
from bgctl.sandbox.network import VPC_NAME
from bgctl.sandbox.samplebuilds import BUILDS_BUCKET
from bgctl.sandbox.tfsandbox import (
    CERT_DOMAIN,
    LOGS_BUCKET,
    SandboxProcess,
    TerraformSandbox,
    amis_wanted,
    apply_waves,
    cli_sandbox,
    seed,
)


@pytest.fixture(scope="module")
def child():
    process = SandboxProcess().start()
    try:
        yield process
    finally:
        process.stop()


def test_the_child_sandbox_serves_on_loopback_as_the_roots_account(child):
    assert child.endpoint_url.startswith("http://127.0.0.1:")
    clients = make_clients(child.endpoint_url)
    sts = boto3.client(
        "sts",
        endpoint_url=child.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert sts.get_caller_identity()["Account"] == "052730242331"  # allowed_account_ids really runs
    assert clients.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"] == []
    request = urllib.request.Request(
        child.control_url, data=json.dumps({"action": "reset"}).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert json.loads(reply.read()) == {"ok": True, "action": "reset"}


def test_the_child_exits_when_its_parent_closes_the_pipe():
    process = SandboxProcess().start()
    proc = process._proc
    assert process.alive
    process.stop()
    assert proc is not None and proc.returncode == 0
    assert not process.alive


def test_amis_wanted_follow_the_roots_patterns_and_architectures():
    wanted = {(a.name, a.architecture, a.windows) for a in amis_wanted(ENVS_DIR, environment_names())}
    assert wanted == {  # compiler-explorer/infra's packer names (packer/*.pkr.hcl)
        ("compiler-explorer packer 24.04 @ 20250601000000", "x86_64", False),
        ("compiler-explorer aarch64 packer 24.04 @ 20250601000000", "arm64", False),
        ("compiler-explorer gpu packer 24.04 @ 20250601000000", "x86_64", False),
        ("compiler-explorer windows packer @ 20250601000000", "x86_64", True),
    }


def test_seed_creates_every_pre_existing_piece_the_roots_look_up(child):
    clients = make_clients(child.endpoint_url)
    seeded = seed(clients, ENVS_DIR, environment_names())
    vpcs = clients.ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [VPC_NAME]}])["Vpcs"]
    assert [v["VpcId"] for v in vpcs] == [seeded.vpc_id]
    for tier, ids in (("private", seeded.private_subnet_ids), ("public", seeded.public_subnet_ids)):
        found = clients.ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [seeded.vpc_id]}, {"Name": "tag:Tier", "Values": [tier]}]
        )["Subnets"]
        assert sorted(s["SubnetId"] for s in found) == sorted(ids)
        assert len({s["AvailabilityZone"] for s in found}) == 2
    buckets = {b["Name"] for b in clients.s3.list_buckets()["Buckets"]}
    assert {BUILDS_BUCKET, LOGS_BUCKET} <= buckets
    assert clients.s3.list_objects_v2(Bucket=BUILDS_BUCKET, Prefix="dist/gh/main/")["KeyCount"] > 0
    cert = clients.acm.describe_certificate(CertificateArn=seeded.certificate_arn)["Certificate"]
    assert (cert["DomainName"], cert["Status"]) == (CERT_DOMAIN, "ISSUED")  # prod asks for ISSUED
    images = clients.ec2.describe_images(Owners=["self"])["Images"]
    by_name = {i["Name"]: i for i in images}
    assert set(by_name) == set(seeded.amis)
    assert by_name["compiler-explorer aarch64 packer 24.04 @ 20250601000000"]["Architecture"] == "arm64"
    assert by_name["compiler-explorer packer 24.04 @ 20250601000000"]["Architecture"] == "x86_64"
    assert by_name["compiler-explorer windows packer @ 20250601000000"].get("Platform") == "windows"
    # The module's lookup: most recent of self with the pattern AND the architecture.
    x86 = clients.ec2.describe_images(
        Owners=["self"],
        Filters=[
            {"Name": "name", "Values": ["compiler-explorer packer 24.04 @ *"]},
            {"Name": "architecture", "Values": ["x86_64"]},
        ],
    )["Images"]
    assert [i["Name"] for i in x86] == ["compiler-explorer packer 24.04 @ 20250601000000"]
    # The preview routes' secret, which preview.tf reads with a data source.
    secret = clients.ssm.get_parameter(Name="/compiler-explorer/preview-secret", WithDecryption=True)
    assert secret["Parameter"]["Type"] == "SecureString" and len(secret["Parameter"]["Value"]) >= 24


def test_apply_order_is_shared_then_prod_then_the_path_environments():
    assert apply_waves(["gpu", "beta", "prod"]) == [["shared"], ["envs/prod"], ["envs/beta", "envs/gpu"]]
    assert apply_waves(["prod"]) == [["shared"], ["envs/prod"], []]
    assert TerraformSandbox(envs=("beta",)).env_names == ["beta", "prod"]  # prod owns the listeners
    # Another region: its shared root with the home one, its prod with prod, its paths last.
    assert apply_waves(["beta", "prod"], {"eu-west-1": ["beta", "prod"]}) == [
        ["shared", "shared-eu-west-1"],
        ["envs/prod", "envs-eu-west-1/prod"],
        ["envs/beta", "envs-eu-west-1/beta"],
    ]
    sandbox = TerraformSandbox(envs=("beta", "gpu"), regions=("eu-west-1",))
    assert sandbox.regional_env_names == {"eu-west-1": ["beta", "prod"]}  # gpu has no root there


def test_a_region_without_a_shared_root_is_refused_before_anything_starts():
    with pytest.raises(ValueError, match="no shared root for ap-south-1"):
        TerraformSandbox(envs=("beta",), regions=("ap-south-1",), binary="terraform").start()


def test_unknown_environments_are_refused():
    with pytest.raises(ValueError, match="unknown environment"):
        TerraformSandbox(envs=("nope",)).start()


def test_the_cli_sandbox_refuses_in_one_line_without_terraform():
    with pytest.raises(TerraformError) as err, cli_sandbox(["beta"], binary="/nonexistent/terraform"):
        pass
    assert err.value.message == (
        "cannot build the sandbox with Terraform here: "
        "no Terraform binary ('/nonexistent/terraform' is not on PATH)"
    )
    assert err.value.hint and "without TF=1" in err.value.hint


def _running(tmp_path, process: SandboxProcess | None = None) -> TerraformSandbox:
    """A TerraformSandbox around a live child process, as start() leaves it (nothing applied)."""
    sandbox = TerraformSandbox(envs=("beta",), workdir=tmp_path, binary="terraform")
    sandbox._process = process or SandboxProcess().start()
    return sandbox


def test_env_file_points_other_shells_at_the_sandbox_and_its_working_copy(tmp_path, child):
    sandbox = _running(tmp_path, child)  # the module's process: not stopped here
    text = sandbox.env_file(tmp_path / "env").read_text()
    environ = sandbox.environ()
    lines = text.splitlines()
    assert (
        lines[1].startswith("unset ") and "AWS_PROFILE" in lines[1] and "BLUEGREEN_TF_PLUGIN_DIR" in lines[1]
    )
    assert f"export AWS_ENDPOINT_URL='{environ['AWS_ENDPOINT_URL']}'" in lines
    assert f"export BLUEGREEN_ENVS_DIR='{tmp_path / 'terraform' / 'envs'}'" in lines
    assert any(line.startswith("export TF_CLI_CONFIG_FILE='") for line in lines)
    assert "export AWS_ACCESS_KEY_ID='testing'" in lines
    assert environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_child_environ_drops_real_credentials_and_the_null_provider_dir(tmp_path, child):
    sandbox = _running(tmp_path, child)
    real = {
        "AWS_PROFILE": "prod",
        "BLUEGREEN_TF_PLUGIN_DIR": "/x",
        "AWS_ACCESS_KEY_ID": "AKIAREAL",
        "HOME": "/h",
    }
    env = sandbox.child_environ(real)
    assert "AWS_PROFILE" not in env and "BLUEGREEN_TF_PLUGIN_DIR" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "testing" and env["HOME"] == "/h"


def test_serving_ends_when_the_sandbox_process_dies(tmp_path):
    import threading

    from bgctl.sandbox.tfsandbox import serve_until_interrupted

    sandbox = _running(tmp_path)
    proc = sandbox.process._proc
    assert proc is not None
    threading.Timer(1.0, proc.terminate).start()
    started = time.monotonic()
    serve_until_interrupted(sandbox)
    assert time.monotonic() - started < 10
    sandbox.stop()
