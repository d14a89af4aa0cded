# beta in eu-west-1: /beta* on that region's ALB. The home root is terraform/envs/beta (us-east-1);
# this root differs only in its provider region, backend key and the region's lookups, and has its own
# state, color file and SSM parameters. Shared pieces come from module "shared" (lookups only): the
# region's network, ALB and instances' security group, and terraform/envs-eu-west-1/prod (the
# listeners) must have been applied first; see terraform/README.md (Regions).
# Per-environment settings are literal module arguments: scripts/bgctl/envspec.py parses them.

module "shared" {
  source = "../../modules/shared_lookups"

  lookup_listeners = true
}

module "blue_green" {
  source = "../../modules/blue_green"

  environment  = "beta"
  active_color = var.active_color

  routing            = "path_rule"
  https_listener_arn = module.shared.https_listener_arn
  http_listener_arn  = module.shared.http_listener_arn
  path_patterns      = ["/beta*"]
  rule_priority      = 10

  vpc_id                    = module.shared.vpc_id
  subnet_ids                = module.shared.subnet_ids
  security_group_ids        = [module.shared.security_group_id]
  iam_instance_profile_name = module.shared.instance_profile_name

  os               = "linux"
  architecture     = "x86_64"
  ami_name_pattern = "compiler-explorer-packer-*"
  instance_type    = "m6i.large"

  asg_max_size              = 4
  min_healthy_instances     = 1
  health_check_grace_period = 120
}
