"""Security contract of terraform/shared and the module's IAM and network parts, over the parsed HCL:

- the ALB admits only CloudFront's origin-facing prefix list (the WAF lives on CloudFront, so a direct
  call must not reach the ALB), split over two groups because the list weighs 55 rules;
- each environment's instances get their own role, which reads only that environment's version
  parameters and wiring: exactly what the user data reads, never the lock, the journal or a neighbour;
- every checkov skip names the control that replaces the check;
- every root commits its provider lock file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bgctl import REPO_ROOT
from bgctl.envspec import load_hcl_dir, module_variables

TERRAFORM = REPO_ROOT / "terraform"
SHARED = TERRAFORM / "shared"
MODULE = TERRAFORM / "modules" / "blue_green"
ENVS = TERRAFORM / "envs"
CLOUDFRONT_LIST = "com.amazonaws.global.cloudfront.origin-facing"
PREFIX_LIST_REF = "${data.aws_ec2_managed_prefix_list.cloudfront[0].id}"


def _blocks(directory: Path, kind: str, type_: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in load_hcl_dir(directory).get(kind, []):
        for name, body in block.get(type_, {}).items():
            found[name] = body
    return found


def _locals(directory: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in load_hcl_dir(directory).get("locals", []):
        merged.update(block)
    return merged


def _environments() -> list[str]:
    return sorted(p.name for p in ENVS.iterdir() if (p / "main.tf").is_file())


# -- the ALB: CloudFront only ----------------------------------------------------------------------------
def test_the_alb_admits_only_cloudfronts_origin_facing_prefix_list():
    (prefix_list,) = _blocks(SHARED, "data", "aws_ec2_managed_prefix_list").values()
    assert prefix_list["name"] == CLOUDFRONT_LIST
    groups = _blocks(SHARED, "resource", "aws_security_group")
    (lb,) = _blocks(SHARED, "resource", "aws_lb").values()
    assert lb["count"] == "${var.create_alb ? 1 : 0}"  # none where the account has its ALB already
    attached = [
        ref.removeprefix("${aws_security_group.").removesuffix("[0].id}") for ref in lb["security_groups"]
    ]
    assert sorted(attached) == ["alb", "alb_http"]
    ports = []
    for name in attached:
        for rule in groups[name].get("ingress", []):
            assert rule["prefix_list_ids"] == [PREFIX_LIST_REF], (name, rule)
            assert not rule.get("cidr_blocks") and not rule.get("ipv6_cidr_blocks"), (name, rule)
            assert rule["description"]
            ports.append(rule["from_port"])
        # A prefix-list rule weighs 55 of a group's 60 rules: one such rule per group.
        assert len(groups[name].get("ingress", [])) == 1
    assert sorted(ports) == [80, 443]


def test_no_security_group_admits_the_internet():
    for name, group in _blocks(SHARED, "resource", "aws_security_group").items():
        for rule in group.get("ingress", []):
            assert "0.0.0.0/0" not in rule.get("cidr_blocks", []), name
            assert "::/0" not in rule.get("ipv6_cidr_blocks", []), name


def test_instances_admit_http_only_from_the_alb_and_the_health_checker():
    group = _blocks(SHARED, "resource", "aws_security_group")["instances"]
    refs = [rule["security_groups"] for rule in group["ingress"]]
    sources = sorted(ref for item in refs for ref in (item if isinstance(item, list) else [item]))
    assert sources == [
        "${aws_security_group.health_checker[0].id}",
        "${var.create_alb ? [aws_security_group.alb[0].id] : "
        "tolist(data.aws_lb.existing[0].security_groups)}",
    ]
    assert all(rule["from_port"] == rule["to_port"] == 80 for rule in group["ingress"])
    checker = _blocks(SHARED, "resource", "aws_security_group")["health_checker"]
    assert "ingress" not in checker


# -- instance roles: one per environment, own parameters only ---------------------------------------------
def test_one_instance_role_per_environment_root():
    listed = re.findall(r'"([a-z0-9]+)"', _locals(SHARED)["environments"])
    assert sorted(listed) == _environments()
    assert (
        _locals(SHARED)["instance_role_envs"]
        == "${var.create_instance_roles ? local.environments : toset([])}"
    )
    for type_ in ("aws_iam_role", "aws_iam_role_policy", "aws_iam_instance_profile"):
        body = _blocks(SHARED, "resource", type_)["environment"]
        assert body["for_each"] == "${local.instance_role_envs}"
        assert body["name"] == "${local.instance_policy}-${each.key}"


PER_REGION = "${flatten([for root in local.param_root_arns : ["


def _ssm_resources(policy: dict[str, Any]) -> list[str]:
    """The SSM ARNs a policy grants, below each region's parameter root (``${root}``): the statement
    lists them once inside a ``for`` over ``local.param_root_arns``."""
    found: list[str] = []
    for statement in policy["statement"]:
        if not any(a.startswith("ssm:") for a in statement["actions"]):
            continue
        resources = statement["resources"]
        assert isinstance(resources, str) and resources.startswith(PER_REGION), resources
        found += re.findall(r'"\$\{root\}(/[^"]+)"', resources)
    return found


def test_the_roles_read_parameters_in_every_region_whose_instances_use_them():
    """IAM is global: the home root's roles serve the instances of every regional root, which read
    the parameters of the region they boot in (the user data's ``--region ${region}``)."""
    arns = _locals(SHARED)["param_root_arns"]
    ssm_root = '"arn:aws:ssm:${r}:${local.state_account}:parameter/compiler-explorer"'
    assert arns == "${[for r in var.instance_regions : " + ssm_root + "]}"
    regional = sorted(d.name.removeprefix("envs-") for d in TERRAFORM.glob("envs-*") if d.is_dir())
    assert regional, "no regional roots: the test would be vacuous"
    (variable,) = [
        v for b in load_hcl_dir(SHARED).get("variable", []) for k, v in b.items() if k == "instance_regions"
    ]
    assert variable["default"] == ["us-east-1", *regional], (
        "instance_regions must name the home region and every envs-<region>"
    )


def test_an_environments_role_reads_only_its_own_version_parameters_and_wiring():
    policy = _blocks(SHARED, "data", "aws_iam_policy_document")["environment"]
    assert sorted(_ssm_resources(policy)) == [
        "/${each.key}/blue/version",
        "/${each.key}/green/version",
        "/${each.key}/wiring",
    ]
    actions = {a for st in policy["statement"] for a in st["actions"]}
    assert actions == {"ssm:GetParameter", "ssm:GetParameters", "s3:GetObject", "s3:ListBucket"}


def test_the_legacy_shared_role_reads_version_parameters_only():
    policy = _blocks(SHARED, "data", "aws_iam_policy_document")["instances"]
    resources = _ssm_resources(policy)
    assert sorted(resources) == ["/*/blue/version", "/*/green/version"]
    assert "/*" not in resources


@pytest.mark.parametrize("template", sorted((MODULE / "templates").glob("user_data.*.tftpl")))
def test_the_user_data_reads_nothing_the_role_does_not_grant(template: Path):
    """Every SSM parameter the boot script reads is its own color's version, in the region the
    instance boots in: covered by the role in each of its regions."""
    text = template.read_text()
    names = re.findall(r"\$\{param_root\}/([^\"\s)]+)", text)
    assert names, f"{template.name} reads no parameter?"
    assert {n.replace("$COLOR", "{color}").replace("$color", "{color}") for n in names} == {"{color}/version"}
    assert "us-east-1" not in text and re.search(r"-[Rr]egion \$\{region\}", text), (
        "the region must be the instance's"
    )
    # param_root is /compiler-explorer/<environment>; the role's ARN roots end with the same path.
    module_locals = _locals(MODULE)
    assert module_locals["param_root"] == "/compiler-explorer/${var.environment}"
    assert _locals(SHARED)["param_root_arns"].endswith(':parameter/compiler-explorer"]}')


def test_launch_templates_use_the_environments_own_profile():
    (template,) = [
        body for name, body in _blocks(MODULE, "resource", "aws_launch_template").items() if name == "this"
    ]
    (profile,) = template["iam_instance_profile"]
    assert profile["name"] == "${local.instance_profile}"
    assert _locals(MODULE)["instance_profile"] == (
        "${var.iam_instance_profile_per_environment ? "
        '"${var.iam_instance_profile_name}-${var.environment}" : var.iam_instance_profile_name}'
    )
    # Every root passes the shared lookups' name, whose default is the prefix terraform/shared uses.
    lookups = module_variables(TERRAFORM / "modules" / "shared_lookups")
    assert lookups["instance_profile_name"]["default"] == _locals(SHARED)["instance_policy"]


# -- checkov skips and lock files ------------------------------------------------------------------------
SKIP = re.compile(r"#\s*checkov:skip=(?P<check>[A-Z0-9_]+):(?P<reason>.*)$")


def test_every_checkov_skip_names_the_control_that_replaces_the_check():
    skips = [
        (path.relative_to(REPO_ROOT), m["check"], m["reason"])
        for path in TERRAFORM.rglob("*.tf")
        for line in path.read_text().splitlines()
        if (m := SKIP.search(line))
    ]
    assert skips
    missing = [(str(p), check) for p, check, reason in skips if "Control instead:" not in reason]
    assert missing == []
    assert not any(check == "CKV_AWS_260" for _, check, _ in skips)  # :80 from the internet: gone


@pytest.mark.parametrize(
    "root",
    [
        SHARED,
        *sorted(p for p in ENVS.iterdir() if p.is_dir()),
        *sorted(p for p in TERRAFORM.glob("shared-*") if (p / "main.tf").is_file()),
        *sorted(p for p in TERRAFORM.glob("envs-*/*") if (p / "main.tf").is_file()),
    ],
    ids=lambda p: str(p.relative_to(TERRAFORM)),
)
def test_every_root_commits_its_provider_lock_file(root: Path):
    lock = root / ".terraform.lock.hcl"
    assert lock.is_file(), f"{lock} missing: make tf-lock"
    text = lock.read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in text
    assert re.search(r'version\s+=\s+"5\.\d+\.\d+"', text)
    assert re.search(r'"h1:[A-Za-z0-9+/=]+"', text)


# -- compiler-explorer/infra's account: existing groups and roles, the admin node's probe -------------------
def test_where_the_account_has_its_own_pieces_the_shared_root_creates_none_of_them():
    """create_alb / create_security_groups / create_instance_roles gate every ALB, group and role."""
    gates = {
        "aws_lb": "create_alb",
        "aws_security_group": None,
        "aws_iam_role": "create_instance_roles",
        "aws_iam_role_policy": "create_instance_roles",
        "aws_iam_instance_profile": "create_instance_roles",
    }
    for type_, gate in gates.items():
        for name, body in _blocks(SHARED, "resource", type_).items():
            guard = str(body.get("count") or body.get("for_each"))
            expected = gate or ("create_alb" if name.startswith("alb") else "create_security_groups")
            assert f"var.{expected}" in guard or "local.instance_role_envs" in guard, (type_, name, guard)


def test_the_admin_node_probe_rule_admits_only_http_from_the_health_checker():
    (rule,) = _blocks(SHARED, "resource", "aws_security_group_rule").values()
    assert rule["count"] == "${var.create_security_groups ? 0 : 1}"  # only on the existing groups
    assert (rule["type"], rule["protocol"], rule["from_port"], rule["to_port"]) == ("ingress", "tcp", 80, 80)
    assert rule["source_security_group_id"] == "${data.aws_security_group.health_checker[0].id}"
    assert rule["security_group_id"] == "${data.aws_security_group.instances[0].id}"
    assert "cidr_blocks" not in rule and "ipv6_cidr_blocks" not in rule


def test_a_weaker_tls_policy_only_where_the_live_listener_has_it():
    """The module's default is TLS 1.2+; compiler-explorer/infra's prod listener runs
    ELBSecurityPolicy-2015-05, which adopting keeps (an import must not change live TLS), and only there."""
    import json

    module = module_variables(MODULE)
    assert module["ssl_policy"]["default"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert module_variables(ENVS / "prod")["ssl_policy"]["default"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    weak = {
        root.parent.name
        for root in ENVS.glob("*/adopt.auto.tfvars.json")
        if json.loads(root.read_text()).get("ssl_policy", "").endswith("2015-05")
    }
    assert weak == {"prod"}
