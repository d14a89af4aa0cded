output "alb_arn" {
  description = "ARN of the shared ALB (environment roots look it up by name: compiler-explorer)."
  value       = aws_lb.this.arn
}

output "alb_dns_name" {
  description = "DNS name of the shared ALB."
  value       = aws_lb.this.dns_name
}

output "instance_security_group_id" {
  description = "Security group of the instances (roots look it up by name: compiler-explorer-web)."
  value       = aws_security_group.instances.id
}

output "instance_profile_names" {
  description = "Instance profile of each environment's instances (compiler-explorer-web-<env>; the blue_green module derives the name)."
  value       = { for env, profile in aws_iam_instance_profile.environment : env => profile.name }
}

output "legacy_instance_profile_name" {
  description = "The profile every environment shared before; kept for instances launched with it."
  value       = aws_iam_instance_profile.instances.name
}

output "health_checker_security_group_id" {
  description = "Security group for whatever runs the deploy tool's HTTP health checks (the deploy runner)."
  value       = aws_security_group.health_checker.id
}
