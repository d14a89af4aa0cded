# aarch64prod. AArch64 production: /aarch64prod* on the shared ALB, SQS backlog scaling (3 messages per instance).
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

  environment  = "aarch64prod"
  protected    = true
  active_color = var.active_color

  # Percent of requests to the other color during a canary step (0 otherwise); from the color file too.
  canary_weight = var.canary_weight

  routing            = "path_rule"
  https_listener_arn = module.shared.https_listener_arn
  http_listener_arn  = module.shared.http_listener_arn
  path_patterns      = ["/aarch64prod*"]
  rule_priority      = 51

  # Preview routes (X-Bluegreen-Color + the secret header) and the smoke tests run through them.
  preview_rule_priorities = { blue = 48, green = 49 }
  smoke_paths             = [{ path = "/aarch64prod/api/compilers", status = 200 }]

  vpc_id                    = module.shared.vpc_id
  subnet_ids                = module.shared.subnet_ids
  security_group_ids        = [module.shared.security_group_id]
  iam_instance_profile_name = module.shared.instance_profile_name

  os               = "linux"
  architecture     = "arm64"
  ami_name_pattern = "compiler-explorer-packer-arm64-*"
  instance_type    = "c7g.large"

  asg_max_size              = 8
  min_healthy_instances     = 1
  health_check_grace_period = 120

  enable_sqs_autoscaling    = true
  sqs_queue_name            = "aarch64prod-compilation-queue"
  sqs_messages_per_instance = 3
}
