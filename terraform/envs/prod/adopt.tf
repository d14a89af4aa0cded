# Adoption (docs/MIGRATION.md): in compiler-explorer/infra's account this environment's target groups,
# auto scaling groups, color parameters, listeners and scaling policies already exist under the
# names the blue_green module uses. With adopt = true (adopt.auto.tfvars.json) the plan imports them
# instead of failing on a name collision or adding a duplicate beside them. An import of an address
# already in this root's state is a no-op, so the blocks stay after the migration. On a fresh account
# (adopt = false, the default: the sandbox, make e2e) there is nothing to import and nothing is read.
# `make adopt-plan ENV=prod` shows the imports and refuses a plan that destroys or replaces anything.

variable "adopt" {
  description = "Import the existing resources of the same names (compiler-explorer/infra's account, docs/MIGRATION.md). false: a fresh account, nothing to import."
  type        = bool
  default     = false
}

locals {
  adopt_colors = var.adopt ? toset(["blue", "green"]) : toset([])
  adopt_once   = var.adopt ? toset(["prod"]) : toset([])
}

# Target groups are imported by ARN, found by their (shared) name: Prod-Blue, Prod-Green.
data "aws_lb_target_group" "adopt" {
  for_each = local.adopt_colors

  name = "Prod-${title(each.key)}"
}

import {
  for_each = local.adopt_colors
  to       = module.blue_green.aws_lb_target_group.this[each.key]
  id       = data.aws_lb_target_group.adopt[each.key].arn
}

import {
  for_each = local.adopt_colors
  to       = module.blue_green.aws_autoscaling_group.this[each.key]
  id       = "prod-${each.key}"
}

import {
  for_each = local.adopt_once
  to       = module.blue_green.aws_ssm_parameter.active_color
  id       = "/compiler-explorer/prod/active-color"
}

import {
  for_each = local.adopt_once
  to       = module.blue_green.aws_ssm_parameter.active_target_group_arn
  id       = "/compiler-explorer/prod/active-target-group-arn"
}

# prod's listeners on the existing ALB: their default action is prod's traffic switch.
data "aws_lb_listener" "adopt" {
  for_each = var.adopt ? { https = 443, http = 80 } : {}

  load_balancer_arn = module.shared.load_balancer_arn
  port              = each.value
}

import {
  for_each = var.adopt ? toset(["https"]) : toset([])
  to       = module.blue_green.aws_lb_listener.https[0]
  id       = data.aws_lb_listener.adopt[each.key].arn
}

import {
  for_each = var.adopt ? toset(["http"]) : toset([])
  to       = module.blue_green.aws_lb_listener.http[0]
  id       = data.aws_lb_listener.adopt[each.key].arn
}

# Each color's scaling policy, cpu-tracker: adopted, so a group obeys one policy, not two.
import {
  for_each = local.adopt_colors
  to       = module.blue_green.aws_autoscaling_policy.cpu[each.key]
  id       = "prod-${each.key}/cpu-tracker"
}
