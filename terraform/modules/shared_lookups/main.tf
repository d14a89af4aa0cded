# The shared_lookups module: read-only lookups of what every environment root stands on. It declares
# data sources only, never a resource, so calling it changes nothing in any state.
#
#   VPC, subnets               pre-existing, found by their Name and Tier tags
#   ALB, instances' SG         terraform/shared, found by name
#   HTTP/HTTPS listeners       terraform/envs/prod, found by load balancer and port; only when
#                              lookup_listeners (prod creates them, so prod passes false)

data "aws_vpc" "this" {
  tags = {
    Name = var.vpc_name
  }
}

data "aws_subnets" "instances" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.this.id]
  }

  tags = {
    Tier = var.subnet_tier
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
