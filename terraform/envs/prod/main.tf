# prod. Production: the ALB's default action (HTTP and HTTPS) forwards to the active color; all spot over 16 instance types, CPU target 25%.
# Shared pieces come from module "shared" (modules/shared_lookups, lookups only): terraform/shared
# (the ALB, or the existing one) must have been applied first. This root owns the listeners, so it
# does not look them up (lookup_listeners = false).
# Per-environment settings are literal module arguments: scripts/bgctl/envspec.py parses them. What
# differs between a fresh account and compiler-explorer/infra's (names of existing pieces, AMI IDs,
# boot contract, release hooks) comes from this root's variables: defaults for a fresh account,
# adopt.auto.tfvars.json for CE's (terraform/README.md, "Two accounts").
# terraform/envs-eu-west-1/prod (and any other region's root of prod) symlinks this file, so the
# environment is one piece of code in every region: a regional root has only its own providers.tf
# (region), backend.tf (state key) and color file (terraform/README.md, "Regions").

module "shared" {
  source = "../../modules/shared_lookups"

  lookup_listeners      = false
  alb_name              = var.alb_name
  subnet_names          = var.subnet_names
  security_group_name   = var.instance_security_group_name
  instance_profile_name = var.instance_profile
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

  # Percent of requests to the other color during a canary step (0 otherwise); from the color file too.
  canary_weight = var.canary_weight

  routing           = "listener_default"
  load_balancer_arn = module.shared.load_balancer_arn
  certificate_arn   = data.aws_acm_certificate.this.arn
  ssl_policy        = var.ssl_policy

  # Preview routes (X-Bluegreen-Color + the secret header) and the smoke tests run through them.
  preview_rule_priorities = { blue = 210, green = 211 }
  smoke_paths             = [{ path = "/api/compilers", status = 200 }]

  vpc_id                               = module.shared.vpc_id
  subnet_ids                           = module.shared.subnet_ids
  security_group_ids                   = [module.shared.security_group_id]
  iam_instance_profile_name            = module.shared.instance_profile_name
  iam_instance_profile_per_environment = var.instance_profile_per_environment
  key_name                             = var.key_name

  os               = "linux"
  architecture     = "x86_64"
  ami_id           = var.ami_id
  ami_name_pattern = "compiler-explorer packer 24.04 @ *"
  root_volume_size = var.root_volume_size
  instance_type    = "c6i.large"

  boot_contract        = var.boot_contract
  boot_version_key     = "version/release"
  instance_name_prefix = var.instance_name_prefix
  detailed_monitoring  = var.detailed_monitoring
  release_hooks        = var.release_hooks

  asg_max_size              = 40
  min_healthy_instances     = 2
  health_check_grace_period = 240
  default_cooldown          = 180
  unhealthy_threshold       = 3
  load_balancing_algorithm  = "least_outstanding_requests"

  use_mixed_instances_policy               = true
  mixed_instance_types                     = ["m5zn.large", "m5.large", "m5n.large", "m5d.large", "m5a.large", "m5ad.large", "m6a.large", "m6i.large", "m6id.large", "m6in.large", "m7i-flex.large", "m7i.large", "m5dn.large", "r6a.large", "i3.large", "i4i.large"]
  on_demand_base_capacity                  = 0
  on_demand_percentage_above_base_capacity = 0

  enable_autoscaling_policy = true
  cpu_target                = 25
  cpu_policy_name           = "cpu-tracker"
  estimated_instance_warmup = 270
}
