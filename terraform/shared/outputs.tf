output "alb_arn" {
  description = "ARN of the shared ALB (environment roots look it up by name: alb_name)."
  value       = local.alb_arn
}

output "alb_dns_name" {
  description = "DNS name of the shared ALB."
  value       = local.alb_dns_name
}

output "instance_security_group_id" {
  description = "Security group of the instances (roots look it up by name: instance_security_group_name)."
  value       = local.instance_sg_id
}

output "instance_profile_names" {
  description = "Instance profile of each environment's instances (compiler-explorer-web-<env>; the blue_green module derives the name); {} when create_instance_roles is false."
  value       = { for env, profile in aws_iam_instance_profile.environment : env => profile.name }
}

output "legacy_instance_profile_name" {
  description = "The profile every environment shared before; kept for instances launched with it (null when create_instance_roles is false)."
  value       = one(aws_iam_instance_profile.instances[*].name)
}

output "health_checker_security_group_id" {
  description = "Security group for whatever runs the deploy tool's HTTP health checks (the deploy runner, or compiler-explorer/infra's admin node)."
  value       = local.health_checker_sg_id
}
