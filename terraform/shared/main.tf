# The shared root: what all nine environments stand on. It owns the ALB, its security group, the
# instances' security group and the instance profile. It does NOT own the listeners: their default
# action is prod's traffic switch, so terraform/envs/prod owns them (see terraform/README.md).
#
# The VPC, its subnets, the ACM certificate and the S3 buckets predate this project and are
# referenced with data sources, not managed here.

locals {
  alb_name        = "compiler-explorer"
  builds_bucket   = "compiler-explorer"
  logs_bucket     = "compiler-explorer-logs"
  state_account   = "052730242331"
  param_root_arn  = "arn:aws:ssm:us-east-1:${local.state_account}:parameter/compiler-explorer"
  instance_sg     = "compiler-explorer-web"
  instance_policy = "compiler-explorer-web"
}

data "aws_vpc" "this" {
  tags = {
    Name = "CompilerExplorer"
  }
}

data "aws_subnets" "public" {
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
  bucket = local.logs_bucket
}

# ---------------------------------------------------------------------------------------------------
# The Application Load Balancer (listeners: terraform/envs/prod)
# ---------------------------------------------------------------------------------------------------
resource "aws_lb" "this" {
  # checkov:skip=CKV2_AWS_20: HTTP is served, not redirected: legacy API clients and editor plugins call http:// (prod owns the listener)
  # checkov:skip=CKV2_AWS_28: the site is fronted by CloudFront, where the WAF lives; no WAF on the origin ALB
  name                       = local.alb_name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = data.aws_subnets.public.ids
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  idle_timeout               = 60

  access_logs {
    bucket  = data.aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }
}

resource "aws_security_group" "alb" {
  # checkov:skip=CKV_AWS_260: the public compiler site serves HTTP on :80 to the internet (legacy API clients)
  name        = "${local.alb_name}-alb"
  description = "Public HTTP and HTTPS to the compiler site ALB"
  vpc_id      = data.aws_vpc.this.id

  ingress {
    description      = "HTTPS from the internet"
    from_port        = 443
    to_port          = 443
    protocol         = "tcp"
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }

  ingress {
    description      = "HTTP from the internet (legacy API clients)"
    from_port        = 80
    to_port          = 80
    protocol         = "tcp"
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }

  egress {
    description = "HTTP to the instances in the VPC"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }
}

# ---------------------------------------------------------------------------------------------------
# What every environment's instances share: security group and instance profile
# ---------------------------------------------------------------------------------------------------
resource "aws_security_group" "instances" {
  # checkov:skip=CKV2_AWS_5: attached by the environment roots' launch templates (other states), which look it up by name
  name        = local.instance_sg
  description = "Compiler site instances: HTTP from the ALB only"
  vpc_id      = data.aws_vpc.this.id

  ingress {
    description     = "HTTP from the ALB (target groups and health checks)"
    from_port       = 80
    to_port         = 80
    protocol        = "tcp"
    security_groups = [aws_security_group.alb.id]
  }

  egress {
    description = "HTTPS out (S3 builds, SSM, package mirrors)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
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

data "aws_iam_policy_document" "instances" {
  statement {
    sid       = "ReadOwnColorVersion"
    actions   = ["ssm:GetParameter", "ssm:GetParameters"]
    resources = ["${local.param_root_arn}/*"]
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
  name               = local.instance_policy
  description        = "Compiler site instances (all environments, both colors)"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
}

resource "aws_iam_role_policy" "instances" {
  name   = local.instance_policy
  role   = aws_iam_role.instances.id
  policy = data.aws_iam_policy_document.instances.json
}

resource "aws_iam_instance_profile" "instances" {
  name = local.instance_policy
  role = aws_iam_role.instances.name
}
