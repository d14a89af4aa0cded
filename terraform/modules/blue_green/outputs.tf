output "environment" {
  description = "The environment this module instance serves."
  value       = var.environment
}

output "asg_names" {
  description = "Auto Scaling group names keyed by color."
  value       = { for c, asg in aws_autoscaling_group.this : c => asg.name }
}

output "target_group_arns" {
  description = "Target group ARNs keyed by color."
  value       = { for c, tg in aws_lb_target_group.this : c => tg.arn }
}

output "launch_template_ids" {
  description = "Launch template IDs keyed by color."
  value       = { for c, lt in aws_launch_template.this : c => lt.id }
}

output "listener_arns" {
  description = "Listener ARNs the traffic action lives on ({https, http?})."
  value       = local.listener_arns
}

output "rule_arns" {
  description = "Listener rule ARNs ({https, http?}); {} for listener_default."
  value       = local.rule_arns
}

output "wiring_parameter_name" {
  description = "Name of the SSM parameter holding the wiring JSON."
  value       = aws_ssm_parameter.wiring.name
}

output "active_color" {
  description = "The color receiving traffic (an output, not a resource: the switch invariant counts resources only)."
  value       = var.active_color
}
