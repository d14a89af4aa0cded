# prod in eu-west-1: that region's ALB default action (HTTP and HTTPS) forwards to the active color.
# The home root is terraform/envs/prod (us-east-1); this root differs only in its provider region,
# backend key and the region's lookups, and has its own state, color file and SSM parameters. Shared
# pieces come from module "shared" (lookups only): the region's network, ALB and instances' security
# group must have been applied first; see terraform/README.md (Regions). This root owns the region's
# listeners, so it does not look them up (lookup_listeners = false).
# Per-environment settings are literal module arguments: scripts/bgctl/envspec.py parses them.

module "shared" {
  source = "../../modules/shared_lookups"

  lookup_listeners = false
}

data "aws_acm_certificate" "this" {
  domain      = "godbolt.org"
  statuses    = ["ISSUED"]
  most_recent = true
}

module "blue_green" {
  source = "../../modules/blue_green"

  environment  = "prod"
  protected    = true
  active_color = var.active_color

  routing           = "listener_default"
  load_balancer_arn = module.shared.load_balancer_arn
  certificate_arn   = data.aws_acm_certificate.this.arn

  vpc_id                    = module.shared.vpc_id
  subnet_ids                = module.shared.subnet_ids
  security_group_ids        = [module.shared.security_group_id]
  iam_instance_profile_name = module.shared.instance_profile_name

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
