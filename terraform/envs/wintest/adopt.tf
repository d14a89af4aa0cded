# Adoption (docs/MIGRATION.md): in compiler-explorer/infra's account this environment's target groups,
# auto scaling groups, color parameters, HTTPS path rule and scaling policies already exist under the
# names the blue_green module uses. With adopt = true (adopt.auto.tfvars.json) the plan imports them
# instead of failing on a name collision or adding a duplicate beside them. An import of an address
# already in this root's state is a no-op, so the blocks stay after the migration. On a fresh account
# (adopt = false, the default: the sandbox, make e2e) there is nothing to import and nothing is read.
# `make adopt-plan ENV=wintest` shows the imports and refuses a plan that destroys or replaces anything.

variable "adopt" {
  description = "Import the existing resources of the same names (compiler-explorer/infra's account, docs/MIGRATION.md). false: a fresh account, nothing to import."
  type        = bool
  default     = false
}

locals {
  adopt_colors = var.adopt ? toset(["blue", "green"]) : toset([])
  adopt_once   = var.adopt ? toset(["wintest"]) : toset([])
}

# Target groups are imported by ARN, found by their (shared) name: Wintest-Blue, Wintest-Green.
data "aws_lb_target_group" "adopt" {
  for_each = local.adopt_colors

  name = "Wintest-${title(each.key)}"
}

import {
  for_each = local.adopt_colors
  to       = module.blue_green.aws_lb_target_group.this[each.key]
  id       = data.aws_lb_target_group.adopt[each.key].arn
}

import {
  for_each = local.adopt_colors
  to       = module.blue_green.aws_autoscaling_group.this[each.key]
  id       = "wintest-${each.key}"
}

import {
  for_each = local.adopt_once
  to       = module.blue_green.aws_ssm_parameter.active_color
  id       = "/compiler-explorer/wintest/active-color"
}

import {
  for_each = local.adopt_once
  to       = module.blue_green.aws_ssm_parameter.active_target_group_arn
  id       = "/compiler-explorer/wintest/active-target-group-arn"
}

# The path rule on the HTTPS listener, found at its priority (151, the module's rule_priority: the
# same number, so the import changes the rule's action at most, never its place in the listener).
data "aws_lb_listener_rule" "adopt" {
  for_each = local.adopt_once

  listener_arn = module.shared.https_listener_arn
  priority     = 151
}

import {
  for_each = local.adopt_once
  to       = module.blue_green.aws_lb_listener_rule.this["https"]
  id       = data.aws_lb_listener_rule.adopt[each.key].arn
}
