# wintest. Windows test: /wintest* on the shared ALB.
# Shared pieces come from module "shared" (modules/shared_lookups, lookups only): terraform/shared
# (ALB, security group, instance profile) and terraform/envs/prod (the listeners) must have been
# applied first.
# Per-environment settings are literal module arguments: scripts/bgctl/envspec.py parses them.

module "shared" {
  source = "../../modules/shared_lookups"

  lookup_listeners = true
}

module "blue_green" {
  source = "../../modules/blue_green"

  environment  = "wintest"
  active_color = var.active_color

  # Percent of requests to the other color during a canary step (0 otherwise); from the color file too.
  canary_weight = var.canary_weight

  routing            = "path_rule"
  https_listener_arn = module.shared.https_listener_arn
  http_listener_arn  = module.shared.http_listener_arn
  path_patterns      = ["/wintest*"]
  rule_priority      = 40

  # Preview routes (X-Bluegreen-Color + the secret header) and the smoke tests run through them.
  preview_rule_priorities = { blue = 34, green = 35 }
  smoke_paths             = [{ path = "/wintest/api/compilers", status = 200 }]

  vpc_id                    = module.shared.vpc_id
  subnet_ids                = module.shared.subnet_ids
  security_group_ids        = [module.shared.security_group_id]
  iam_instance_profile_name = module.shared.instance_profile_name

  os               = "windows"
  architecture     = "x86_64"
  ami_name_pattern = "compiler-explorer-windows-packer-*"
  instance_type    = "m6i.large"

  asg_max_size              = 4
  min_healthy_instances     = 1
  health_check_grace_period = 300
}
