output "vpc_id" {
  description = "ID of the VPC (for the target groups)."
  value       = data.aws_vpc.this.id
}

output "subnet_ids" {
  description = "IDs of the VPC's subnets named in subnet_names, or with the requested Tier tag (for the Auto Scaling groups)."
  value       = data.aws_subnets.instances.ids
}

output "security_group_id" {
  description = "ID of the instances' security group."
  value       = data.aws_security_group.instances.id
}

output "instance_profile_name" {
  description = "Name of the instances' IAM instance profile."
  value       = var.instance_profile_name
}

output "load_balancer_arn" {
  description = "ARN of the shared Application Load Balancer."
  value       = data.aws_lb.shared.arn
}

output "https_listener_arn" {
  description = "ARN of the HTTPS (:443) listener; null when lookup_listeners is false."
  value       = var.lookup_listeners ? data.aws_lb_listener.https[0].arn : null
}

output "http_listener_arn" {
  description = "ARN of the HTTP (:80) listener; null when lookup_listeners is false."
  value       = var.lookup_listeners ? data.aws_lb_listener.http[0].arn : null
}
