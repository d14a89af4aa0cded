# ---------------------------------------------------------------------------------------------------
# SSM: the two color parameters (from active_color) and the wiring (independent of it)
# ---------------------------------------------------------------------------------------------------
resource "aws_ssm_parameter" "active_color" {
  # checkov:skip=CKV2_AWS_34: not a secret (a color). Control instead: IAM decides who reads it; instance roles cannot (terraform/shared grants them only their own version parameters and wiring)
  name        = "${local.param_root}/active-color"
  description = "Color of ${var.environment} that receives traffic (Terraform-owned; mirrors the listener)"
  type        = "String"
  value       = var.active_color
  tags        = merge(var.tags, { Environment = var.environment })
}

resource "aws_ssm_parameter" "active_target_group_arn" {
  # checkov:skip=CKV2_AWS_34: not a secret (an ARN). Control instead: IAM decides who reads it; instance roles cannot (terraform/shared)
  name        = "${local.param_root}/active-target-group-arn"
  description = "Target group of ${var.environment} that receives traffic (Terraform-owned)"
  type        = "String"
  value       = aws_lb_target_group.this[var.active_color].arn
  tags        = merge(var.tags, { Environment = var.environment })
}

resource "aws_ssm_parameter" "wiring" {
  # checkov:skip=CKV2_AWS_34: not a secret (resource names and ARNs). Control instead: IAM; the environment's own instance role is the only instance role that reads it (terraform/shared)
  name        = "${local.param_root}/wiring"
  description = "Wiring of ${var.environment} for the deploy tool (schema_version 1, scripts/bgctl/wiring.py)"
  type        = "String"
  tier        = "Standard"
  value       = jsonencode(local.wiring)
  tags        = merge(var.tags, { Environment = var.environment })

  lifecycle {
    precondition {
      condition     = !local.path_rule || (var.https_listener_arn != null && length(var.path_patterns) > 0 && var.rule_priority != null)
      error_message = "routing = \"path_rule\" needs https_listener_arn, path_patterns and rule_priority."
    }

    precondition {
      condition     = !local.listener_default || (var.load_balancer_arn != null && var.certificate_arn != null)
      error_message = "routing = \"listener_default\" needs load_balancer_arn and certificate_arn."
    }

    precondition {
      condition     = var.boot_contract != "version_key" || var.boot_version_key != null
      error_message = "boot_contract = \"version_key\" needs boot_version_key (the S3 key the AMI's boot scripts read)."
    }
  }
}
