# Adoption (docs/MIGRATION.md): in compiler-explorer/infra's account this environment's target groups,
# auto scaling groups, color parameters, HTTPS path rule and scaling policies already exist under the
# names the blue_green module uses. With adopt = true (adopt.auto.tfvars.json) the plan imports them
# instead of failing on a name collision or adding a duplicate beside them. An import of an address
# already in this root's state is a no-op, so the blocks stay after the migration. On a fresh account
# (adopt = false, the default: the sandbox, make e2e) there is nothing to import and nothing is read.
# `make adopt-plan ENV=aarch64staging` shows the imports and refuses a plan that destroys or replaces anything.

variable "adopt" {
  description = "Import the existing resources of the same names (compiler-explorer/infra's account, docs/MIGRATION.md). false: a fresh account, nothing to import."
  type        = bool
  default     = false
}

locals {
  adopt_colors = var.adopt ? toset(["blue", "green"]) : toset([])
  adopt_once   = var.adopt ? toset(["aarch64staging"]) : toset([])
}

# Target groups are imported by ARN, found by their (shared) name: Aarch64staging-Blue, Aarch64staging-Green.
data "aws_lb_target_group" "adopt" {
  for_each = local.adopt_colors

  name = "Aarch64staging-${title(each.key)}"
}

import {
  for_each = local.adopt_colors
  to       = module.blue_green.aws_lb_target_group.this[each.key]
  id       = data.aws_lb_target_group.adopt[each.key].arn
}

import {
  for_each = local.adopt_colors
  to       = module.blue_green.aws_autoscaling_group.this[each.key]
  id       = "aarch64staging-${each.key}"
}

import {
  for_each = local.adopt_once
  to       = module.blue_green.aws_ssm_parameter.active_color
  id       = "/compiler-explorer/aarch64staging/active-color"
}

import {
  for_each = local.adopt_once
  to       = module.blue_green.aws_ssm_parameter.active_target_group_arn
  id       = "/compiler-explorer/aarch64staging/active-target-group-arn"
}

# The path rule on the HTTPS listener, found at its priority (191, the module's rule_priority: the
# same number, so the import changes the rule's action at most, never its place in the listener).
data "aws_lb_listener_rule" "adopt" {
  for_each = local.adopt_once

  listener_arn = module.shared.https_listener_arn
  priority     = 191
}

import {
  for_each = local.adopt_once
  to       = module.blue_green.aws_lb_listener_rule.this["https"]
  id       = data.aws_lb_listener_rule.adopt[each.key].arn
}

# Each color's scaling policy, aarch64staging-mq-tracker-{color}: adopted, so a group obeys one policy, not two.
import {
  for_each = local.adopt_colors
  to       = module.blue_green.aws_autoscaling_policy.sqs_backlog[each.key]
  id       = "aarch64staging-${each.key}/aarch64staging-mq-tracker-${each.key}"
}
