# aarch64staging. AArch64 staging: /aarch64staging* on the shared ALB, SQS backlog scaling (3 messages per instance).
# Shared pieces come from data sources: terraform/shared (ALB, security group, instance profile)
# and terraform/envs/prod (the listeners) must have been applied first.
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

data "aws_lb_listener" "https" {
  load_balancer_arn = data.aws_lb.shared.arn
  port              = 443
}

data "aws_lb_listener" "http" {
  load_balancer_arn = data.aws_lb.shared.arn
  port              = 80
}

module "blue_green" {
  source = "../../modules/blue_green"

  environment  = "aarch64staging"
  active_color = var.active_color

  routing            = "path_rule"
  https_listener_arn = data.aws_lb_listener.https.arn
  http_listener_arn  = data.aws_lb_listener.http.arn
  path_patterns      = ["/aarch64staging*"]
  rule_priority      = 50

  vpc_id                    = data.aws_vpc.this.id
  subnet_ids                = data.aws_subnets.instances.ids
  security_group_ids        = [data.aws_security_group.instances.id]
  iam_instance_profile_name = "compiler-explorer-web"

  os               = "linux"
  architecture     = "arm64"
  ami_name_pattern = "compiler-explorer-packer-arm64-*"
  instance_type    = "c7g.large"

  asg_max_size              = 4
  min_healthy_instances     = 1
  health_check_grace_period = 120

  enable_sqs_autoscaling    = true
  sqs_queue_name            = "aarch64staging-compilation-queue"
  sqs_messages_per_instance = 3
}
