# ---------------------------------------------------------------------------------------------------
# Traffic: the only resources (with the two color parameters) that read var.active_color, and the only
# ones that read var.canary_weight (a weighted forward with stickiness when it is not 0, canary.tf).
# No ignore_changes here: Terraform owns where traffic goes.
# The three actions carry the same forward block on purpose: Terraform cannot share a nested block
# between resources, and merging the two listeners into one for_each would move their addresses (and
# every import block and state in compiler-explorer/infra's account) for no change in behaviour.
# ---------------------------------------------------------------------------------------------------
resource "aws_lb_listener_rule" "this" {
  for_each = local.rule_listeners

  listener_arn = each.value
  priority     = var.rule_priority

  action {
    type             = "forward"
    target_group_arn = var.canary_weight == 0 ? aws_lb_target_group.this[var.active_color].arn : null

    dynamic "forward" {
      for_each = local.weighted_forward
      content {
        dynamic "target_group" {
          for_each = forward.value.target_groups
          content {
            arn    = target_group.value.arn
            weight = target_group.value.weight
          }
        }
        stickiness {
          enabled  = true
          duration = forward.value.stickiness_seconds
        }
      }
    }
  }

  condition {
    path_pattern {
      values = var.path_patterns
    }
  }

  tags = merge(var.tags, { Environment = var.environment })
}

resource "aws_lb_listener" "https" {
  # checkov:skip=CKV2_AWS_74: ssl_policy is an input whose default is ELBSecurityPolicy-TLS13-1-2-2021-06; compiler-explorer/infra's prod passes its live ELBSecurityPolicy-2015-05 so that adopting the listener changes no client's TLS. Control instead: tests/terraform/test_tf_security.py allows a weaker policy only in prod's adopt.auto.tfvars.json, and docs/MIGRATION.md raises it as a reviewed change of its own
  count = local.listener_default ? 1 : 0

  load_balancer_arn = var.load_balancer_arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = var.canary_weight == 0 ? aws_lb_target_group.this[var.active_color].arn : null

    dynamic "forward" {
      for_each = local.weighted_forward
      content {
        dynamic "target_group" {
          for_each = forward.value.target_groups
          content {
            arn    = target_group.value.arn
            weight = target_group.value.weight
          }
        }
        stickiness {
          enabled  = true
          duration = forward.value.stickiness_seconds
        }
      }
    }
  }

  tags = merge(var.tags, { Environment = var.environment })
}

resource "aws_lb_listener" "http" {
  # checkov:skip=CKV_AWS_2: plain HTTP on :80 for legacy API clients and editor plugins (a redirect would break them). Control instead: only CloudFront's origin-facing ranges reach :80 (terraform/shared aws_security_group.alb_http), behind CloudFront's WAF
  # checkov:skip=CKV_AWS_103: the plain HTTP listener has no TLS to configure. Control instead: the HTTPS listener's ssl_policy (var.ssl_policy) and the CloudFront-only ingress above
  count = local.listener_default ? 1 : 0

  load_balancer_arn = var.load_balancer_arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = var.canary_weight == 0 ? aws_lb_target_group.this[var.active_color].arn : null

    dynamic "forward" {
      for_each = local.weighted_forward
      content {
        dynamic "target_group" {
          for_each = forward.value.target_groups
          content {
            arn    = target_group.value.arn
            weight = target_group.value.weight
          }
        }
        stickiness {
          enabled  = true
          duration = forward.value.stickiness_seconds
        }
      }
    }
  }

  tags = merge(var.tags, { Environment = var.environment })
}
