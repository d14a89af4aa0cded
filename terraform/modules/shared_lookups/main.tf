# The shared_lookups module: read-only lookups of what every environment root stands on. It declares
# data sources only, never a resource, so calling it changes nothing in any state.
#
#   VPC, subnets               pre-existing, found by their Name tags (or the subnets' Tier tag)
#   ALB, instances' SG         terraform/shared, found by name
#   HTTP/HTTPS listeners       terraform/envs/prod, found by load balancer and port; only when
#                              lookup_listeners (prod creates them, so prod passes false)

data "aws_vpc" "this" {
  tags = {
    Name = var.vpc_name
  }
}

# By Name when subnet_names is given (compiler-explorer/infra tags its subnets only with a Name), else by
# the Tier tag. An empty result is a plan error here, not an ASG that fails at apply time.
data "aws_subnets" "instances" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.this.id]
  }

  dynamic "filter" {
    for_each = length(var.subnet_names) > 0 ? [var.subnet_names] : []
    content {
      name   = "tag:Name"
      values = filter.value
    }
  }

  tags = length(var.subnet_names) > 0 ? null : { Tier = var.subnet_tier }

  lifecycle {
    postcondition {
      condition     = length(self.ids) > 0 && (length(var.subnet_names) == 0 || length(self.ids) == length(var.subnet_names))
      error_message = "The instances' subnets were not found: every name in subnet_names (or at least one subnet tagged Tier = subnet_tier) must exist in the VPC."
    }
  }
}

data "aws_security_group" "instances" {
  name   = var.security_group_name
  vpc_id = data.aws_vpc.this.id
}

data "aws_lb" "shared" {
  name = var.alb_name
}

data "aws_lb_listener" "https" {
  count = var.lookup_listeners ? 1 : 0

  load_balancer_arn = data.aws_lb.shared.arn
  port              = 443
}

data "aws_lb_listener" "http" {
  count = var.lookup_listeners ? 1 : 0

  load_balancer_arn = data.aws_lb.shared.arn
  port              = 80
}
