# prod. Production: the ALB's default action (HTTP and HTTPS) forwards to the active color.
# Shared pieces come from data sources: terraform/shared (ALB, security group, instance profile)
# and this root owns the listeners.
# Per-environment settings are literal module arguments: scripts/bgctl/envspec.py parses them.

data "aws_vpc" "this" {
  tags = {
    Name = "CompilerExplorer"
  }
}

data "aws_subnets" "instances" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.this.id]
  }

  tags = {
    Tier = "private"
  }
}

data "aws_security_group" "instances" {
  name   = "compiler-explorer-web"
  vpc_id = data.aws_vpc.this.id
}

data "aws_lb" "shared" {
  name = "compiler-explorer"
}

data "aws_acm_certificate" "this" {
  domain      = "godbolt.org"
  statuses    = ["ISSUED"]
  most_recent = true
}

module "blue_green" {
  source = "../../modules/blue_green"

  environment  = "prod"
  active_color = var.active_color

  routing           = "listener_default"
  load_balancer_arn = data.aws_lb.shared.arn
  certificate_arn   = data.aws_acm_certificate.this.arn

  vpc_id                    = data.aws_vpc.this.id
  subnet_ids                = data.aws_subnets.instances.ids
  security_group_ids        = [data.aws_security_group.instances.id]
  iam_instance_profile_name = "compiler-explorer-web"

  os               = "linux"
  architecture     = "x86_64"
  ami_name_pattern = "compiler-explorer-packer-*"
  instance_type    = "m6i.large"

  asg_max_size              = 40
  min_healthy_instances     = 2
  health_check_grace_period = 120

  use_mixed_instances_policy               = true
  mixed_instance_types                     = ["m6i.large", "m5.large", "m5a.large", "m6a.large"]
  on_demand_base_capacity                  = 2
  on_demand_percentage_above_base_capacity = 25

  enable_autoscaling_policy = true
  cpu_target                = 50
}
