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

output "instance_profile_name" {
  description = "Instance profile of the instances."
  value       = aws_iam_instance_profile.instances.name
}
