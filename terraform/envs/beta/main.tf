# beta. Beta: /beta* on the shared ALB, scaled on its colored compilation queues (2 messages per instance).
# Shared pieces come from module "shared" (modules/shared_lookups, lookups only): terraform/shared
# (ALB, security group, instance profile) and terraform/envs/prod (the listeners) must have been
# applied first.
# Per-environment settings are literal module arguments: scripts/bgctl/envspec.py parses them. What
# differs between a fresh account and compiler-explorer/infra's (names of existing pieces, AMI IDs,
# boot contract, release hooks) comes from this root's variables: defaults for a fresh account,
# adopt.auto.tfvars.json for CE's (terraform/README.md, "Two accounts").
# terraform/envs-eu-west-1/beta (and any other region's root of beta) symlinks this file, so the
# environment is one piece of code in every region: a regional root has only its own providers.tf
# (region), backend.tf (state key) and color file (terraform/README.md, "Regions").

module "shared" {
  source = "../../modules/shared_lookups"

  lookup_listeners      = true
  alb_name              = var.alb_name
  subnet_names          = var.subnet_names
  security_group_name   = var.instance_security_group_name
  instance_profile_name = var.instance_profile
}

module "blue_green" {
  source = "../../modules/blue_green"

  environment  = "beta"
  active_color = var.active_color

  # Percent of requests to the other color during a canary step (0 otherwise); from the color file too.
  canary_weight = var.canary_weight

  routing            = "path_rule"
  https_listener_arn = module.shared.https_listener_arn
  http_listener_arn  = module.shared.http_listener_arn
  http_rule          = var.http_rule
  path_patterns      = ["/beta*"]
  rule_priority      = 101

  # Preview routes (X-Bluegreen-Color + the secret header) and the smoke tests run through them.
  preview_rule_priorities = { blue = 99, green = 100 }
  smoke_paths             = [{ path = "/beta/api/compilers", status = 200 }]

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
  instance_type    = "m5.large"

  boot_contract        = var.boot_contract
  boot_version_key     = "version/beta"
  instance_name_prefix = var.instance_name_prefix
  detailed_monitoring  = var.detailed_monitoring
  release_hooks        = var.release_hooks

  asg_max_size              = 10
  min_healthy_instances     = 1
  health_check_grace_period = 240
  default_cooldown          = 90
  unhealthy_threshold       = 3
  load_balancing_algorithm  = "least_outstanding_requests"

  enable_sqs_autoscaling    = true
  sqs_queue_names           = { blue = "beta-compilation-queue-blue.fifo", green = "beta-compilation-queue-green.fifo" }
  sqs_messages_per_instance = 2
  sqs_policy_name           = "beta-compilation-queue-tracker-{color}"
  estimated_instance_warmup = 90
}
