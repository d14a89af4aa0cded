# The shared root: what all nine environments stand on. On a fresh account (the defaults) it owns the
# ALB, its security groups, the instances' security group and the instances' IAM roles (one per
# environment). In an account that already has them (adopt.auto.tfvars.json: compiler-explorer/infra's
# GccExplorerApp, gcc-explorer-sg, AdminNodeSecGroup, CompilerExplorerRole) it creates none of them and
# owns only the admin node's HTTP probe rule, which the deploy tool's health gate needs (imported: see
# docs/MIGRATION.md). It never owns the listeners: their default action is prod's traffic switch, so
# terraform/envs/prod owns them (see terraform/README.md).
#
# The VPC, its subnets, the ACM certificate and the S3 buckets predate this project and are
# referenced with data sources, not managed here.

locals {
  alb_name        = var.alb_name
  builds_bucket   = "compiler-explorer"
  logs_bucket     = var.logs_bucket
  state_account   = "052730242331"
  param_root_arns = [for r in var.instance_regions : "arn:aws:ssm:${r}:${local.state_account}:parameter/compiler-explorer"]
  instance_sg     = var.instance_security_group_name
  instance_policy = "compiler-explorer-web"

  # What the outputs (and the probe rule) point at: ours where this root creates them, else the
  # existing pieces found by name.
  alb_arn              = one(concat(aws_lb.this[*].arn, data.aws_lb.existing[*].arn))
  alb_dns_name         = one(concat(aws_lb.this[*].dns_name, data.aws_lb.existing[*].dns_name))
  instance_sg_id       = var.create_security_groups ? aws_security_group.instances[0].id : data.aws_security_group.instances[0].id
  health_checker_sg_id = var.create_security_groups ? aws_security_group.health_checker[0].id : data.aws_security_group.health_checker[0].id
  instance_role_envs   = var.create_instance_roles ? local.environments : toset([])

  # One instance role and profile per environment, named "<instance_policy>-<env>": the blue_green
  # module's launch templates use exactly that name. tests/test_tf_security.py keeps this list equal
  # to terraform/envs.
  environments = toset([
    "aarch64prod",
    "aarch64staging",
    "beta",
    "gpu",
    "prod",
    "staging",
    "winprod",
    "winstaging",
    "wintest",
  ])
}

data "aws_vpc" "this" {
  tags = {
    Name = "CompilerExplorer"
  }
}

data "aws_subnets" "public" {
  count = var.create_alb ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.this.id]
  }

  tags = {
    Tier = "public"
  }
}

data "aws_s3_bucket" "builds" {
  bucket = local.builds_bucket
}

data "aws_s3_bucket" "logs" {
  count = var.create_alb ? 1 : 0

  bucket = local.logs_bucket
}

# An ALB that already exists (create_alb = false): compiler-explorer/infra's GccExplorerApp, which its
# three CloudFront distributions use as their origin.
data "aws_lb" "existing" {
  count = var.create_alb ? 0 : 1

  name = local.alb_name
}

# ---------------------------------------------------------------------------------------------------
# The Application Load Balancer (listeners: terraform/envs/prod)
# ---------------------------------------------------------------------------------------------------
resource "aws_lb" "this" {
  count = var.create_alb ? 1 : 0

  # checkov:skip=CKV2_AWS_20: HTTP is served, not redirected (legacy API clients and editor plugins call http://; prod owns the listener). Control instead: only CloudFront's origin-facing ranges reach the ALB (aws_security_group.alb_http), so viewers meet CloudFront's protocol policy first
  # checkov:skip=CKV2_AWS_28: Control instead: the WAF web ACL on the CloudFront distribution. It cannot be bypassed by calling the ALB directly: the ALB admits only CloudFront's origin-facing prefix list (aws_security_group.alb, aws_security_group.alb_http)
  name                       = local.alb_name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb[0].id, aws_security_group.alb_http[0].id]
  subnets                    = data.aws_subnets.public[0].ids
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  idle_timeout               = 60

  access_logs {
    bucket  = data.aws_s3_bucket.logs[0].id
    prefix  = "alb"
    enabled = true
  }
}

# CloudFront's origin-facing addresses (AWS-managed, kept current by AWS). The site is served through
# CloudFront, whose WAF inspects every request; admitting only these ranges is what stops anyone from
# calling the ALB directly around the WAF. Nothing else needs to reach the ALB: the deploy tool checks
# instances on their private addresses (aws_security_group.health_checker), and the target groups'
# health checks come from the ALB itself.
data "aws_ec2_managed_prefix_list" "cloudfront" {
  count = var.create_alb ? 1 : 0

  name = "com.amazonaws.global.cloudfront.origin-facing"
}

# A rule that references this prefix list counts as 55 rules against the 60-rule quota of a security
# group, so :443 and :80 each get their own group; the ALB carries both.
resource "aws_security_group" "alb" {
  count = var.create_alb ? 1 : 0

  name        = "${local.alb_name}-alb"
  description = "HTTPS from CloudFront to the compiler site ALB"
  vpc_id      = data.aws_vpc.this.id

  ingress {
    description     = "HTTPS from CloudFront origin-facing servers only"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    prefix_list_ids = [data.aws_ec2_managed_prefix_list.cloudfront[0].id]
  }

  egress {
    description = "HTTP to the instances in the VPC"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }
}

resource "aws_security_group" "alb_http" {
  count = var.create_alb ? 1 : 0

  name        = "${local.alb_name}-alb-http"
  description = "HTTP from CloudFront to the compiler site ALB"
  vpc_id      = data.aws_vpc.this.id

  ingress {
    description     = "HTTP from CloudFront origin-facing servers only (legacy API clients use http://)"
    from_port       = 80
    to_port         = 80
    protocol        = "tcp"
    prefix_list_ids = [data.aws_ec2_managed_prefix_list.cloudfront[0].id]
  }
}

# ---------------------------------------------------------------------------------------------------
# What every environment's instances share: security group and instance profile
# ---------------------------------------------------------------------------------------------------
resource "aws_security_group" "instances" {
  # checkov:skip=CKV2_AWS_5: attached in other states. Control instead: tests/terraform checks that every environment root passes module.shared.security_group_id (this group, looked up by name) to its launch templates
  count = var.create_security_groups ? 1 : 0

  name        = local.instance_sg
  description = "Compiler site instances: HTTP from the ALB and the health checker only"
  vpc_id      = data.aws_vpc.this.id

  ingress {
    description     = "HTTP from the ALB (target groups and health checks)"
    from_port       = 80
    to_port         = 80
    protocol        = "tcp"
    security_groups = var.create_alb ? [aws_security_group.alb[0].id] : tolist(data.aws_lb.existing[0].security_groups)
  }

  ingress {
    description     = "HTTP /healthcheck from the deploy tool covering health check"
    from_port       = 80
    to_port         = 80
    protocol        = "tcp"
    security_groups = [aws_security_group.health_checker[0].id]
  }

  egress {
    description = "HTTPS out (S3 builds, SSM, package mirrors)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# Before a switch the new color's targets are "unused" (no rule forwards there yet), so only the deploy
# tool's HTTP check (BLUEGREEN_HEALTH_URL=http://{private_ip}/healthcheck) sees them. Whatever runs it
# (the deploy workflow's self-hosted runner, an admin node) carries this group; it may only call out.
resource "aws_security_group" "health_checker" {
  # checkov:skip=CKV2_AWS_5: attached to the deploy runner and admin nodes, which this repository does not manage. Control instead: it admits nothing and may only reach the instances' :80
  count = var.create_security_groups ? 1 : 0

  name        = var.health_checker_security_group_name
  description = "Deploy runner and admin nodes: HTTP to the instances for health checks"
  vpc_id      = data.aws_vpc.this.id

  egress {
    description = "HTTP to the instances in the VPC (/healthcheck)"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }
}

# The existing groups (create_security_groups = false): compiler-explorer/infra's gcc-explorer-sg, which
# every CE node carries (EFS and SMB mounts, the ALB's :80 and :443, the admin node's probes), and the
# admin node's AdminNodeSecGroup, from which the deploy tool's HTTP health gate runs.
data "aws_security_group" "instances" {
  count = var.create_security_groups ? 0 : 1

  name   = local.instance_sg
  vpc_id = data.aws_vpc.this.id
}

data "aws_security_group" "health_checker" {
  count = var.create_security_groups ? 0 : 1

  name   = var.health_checker_security_group_name
  vpc_id = data.aws_vpc.this.id
}

# The admin-node probe: the health gate calls http://<private ip>/healthcheck on every new instance
# before any traffic reaches it, from the admin node. compiler-explorer/infra already has this rule
# (CE_HttpFromAdminNode, an aws_security_group_rule like this one); this root imports it
# (docs/MIGRATION.md) so that the gate's one network dependency is reviewed here and cannot disappear
# in another state.
resource "aws_security_group_rule" "health_probe" {
  count = var.create_security_groups ? 0 : 1

  description              = "HTTP /healthcheck from the admin node (the deploy tools health gate)"
  type                     = "ingress"
  security_group_id        = data.aws_security_group.instances[0].id
  source_security_group_id = data.aws_security_group.health_checker[0].id
  protocol                 = "tcp"
  from_port                = 80
  to_port                  = 80
}

# Adopting (docs/MIGRATION.md): the rule exists in compiler-explorer/infra's account, so the first plan
# imports it (the ID is the provider's <group>_ingress_tcp_80_80_<source group>); a no-op once in state.
import {
  for_each = var.create_security_groups ? toset([]) : toset(["health_probe"])
  to       = aws_security_group_rule.health_probe[0]
  id       = "${data.aws_security_group.instances[0].id}_ingress_tcp_80_80_${data.aws_security_group.health_checker[0].id}"
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# Each environment's instances read only what their boot reads (templates/user_data.*.tftpl in the
# blue_green module): the version parameter of their own color, under their own environment, plus the
# environment's wiring, and the builds. Not the lock, the journal, or any other environment. In each
# region of var.instance_regions: an instance reads the parameters of the region it boots in.
data "aws_iam_policy_document" "environment" {
  for_each = local.instance_role_envs

  statement {
    sid     = "ReadOwnEnvironmentVersionsAndWiring"
    actions = ["ssm:GetParameter", "ssm:GetParameters"]
    resources = flatten([
      for root in local.param_root_arns : [
        "${root}/${each.key}/blue/version",
        "${root}/${each.key}/green/version",
        "${root}/${each.key}/wiring",
      ]
    ])
  }

  statement {
    sid       = "ReadBuilds"
    actions   = ["s3:GetObject"]
    resources = ["${data.aws_s3_bucket.builds.arn}/dist/*"]
  }

  statement {
    sid       = "ListBuilds"
    actions   = ["s3:ListBucket"]
    resources = [data.aws_s3_bucket.builds.arn]
  }
}

resource "aws_iam_role" "environment" {
  for_each = local.instance_role_envs

  name               = "${local.instance_policy}-${each.key}"
  description        = "Compiler site instances of ${each.key} (both colors)"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
}

resource "aws_iam_role_policy" "environment" {
  for_each = local.instance_role_envs

  name   = "${local.instance_policy}-${each.key}"
  role   = aws_iam_role.environment[each.key].id
  policy = data.aws_iam_policy_document.environment[each.key].json
}

resource "aws_iam_instance_profile" "environment" {
  for_each = local.instance_role_envs

  name = "${local.instance_policy}-${each.key}"
  role = aws_iam_role.environment[each.key].name
}

# The role every environment used to share. Instances launched before the per-environment profiles
# keep it until the deploy tool replaces them (it never replaces running instances itself), so it stays,
# narrowed to the version parameters a booting instance reads. Remove it once
# `aws ec2 describe-iam-instance-profile-associations` lists no instance with this profile.
data "aws_iam_policy_document" "instances" {
  count = var.create_instance_roles ? 1 : 0

  statement {
    sid     = "ReadVersionsAtBoot"
    actions = ["ssm:GetParameter", "ssm:GetParameters"]
    resources = flatten([
      for root in local.param_root_arns : ["${root}/*/blue/version", "${root}/*/green/version"]
    ])
  }

  statement {
    sid       = "ReadBuilds"
    actions   = ["s3:GetObject"]
    resources = ["${data.aws_s3_bucket.builds.arn}/dist/*"]
  }

  statement {
    sid       = "ListBuilds"
    actions   = ["s3:ListBucket"]
    resources = [data.aws_s3_bucket.builds.arn]
  }
}

resource "aws_iam_role" "instances" {
  count = var.create_instance_roles ? 1 : 0

  name               = local.instance_policy
  description        = "Compiler site instances launched before the per-environment roles (legacy)"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
}

resource "aws_iam_role_policy" "instances" {
  count = var.create_instance_roles ? 1 : 0

  name   = local.instance_policy
  role   = aws_iam_role.instances[0].id
  policy = data.aws_iam_policy_document.instances[0].json
}

resource "aws_iam_instance_profile" "instances" {
  count = var.create_instance_roles ? 1 : 0

  name = local.instance_policy
  role = aws_iam_role.instances[0].name
}
