# One file, symlinked as outputs.tf by every environment root (terraform/envs*/<env>): edit it here.

output "wiring_parameter_name" {
  description = "SSM parameter holding this environment's wiring JSON."
  value       = module.blue_green.wiring_parameter_name
}

output "asg_names" {
  description = "Auto Scaling group names keyed by color."
  value       = module.blue_green.asg_names
}

output "target_group_arns" {
  description = "Target group ARNs keyed by color."
  value       = module.blue_green.target_group_arns
}

output "active_color" {
  description = "The color receiving traffic."
  value       = module.blue_green.active_color
}
