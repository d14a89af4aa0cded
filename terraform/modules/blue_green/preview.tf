# Preview routes: per color, a listener rule that forwards requests carrying "X-Bluegreen-Color: <color>"
# (and the preview secret header, and/or from an admin CIDR) to THAT color's target group, on each
# listener the environment is served from. They never read var.active_color (the switch invariant holds),
# so the idle color is reachable through the real ALB: the deploy tool's smoke tests (scripts/bgctl/smoke.py)
# and operators use them before traffic moves, and the ALB health-checks the idle color too because a
# rule forwards to it.
#
# Who may use them (default: restricted): the header value is no authentication, so a rule also needs the
# secret header (a SecureString in SSM, created outside Terraform) and/or a source-IP condition. See README.

variable "preview_rule_priorities" {
  description = "Priorities of the two preview rules, {blue = N, green = M}, on every listener this environment uses; null: no preview routes. With routing = path_rule both must be lower than rule_priority (an ALB evaluates lower numbers first)."
  type = object({
    blue  = number
    green = number
  })
  default = null

  validation {
    condition     = var.preview_rule_priorities == null || try(alltrue([for p in [var.preview_rule_priorities.blue, var.preview_rule_priorities.green] : p >= 1 && p <= 50000 && floor(p) == p]) && var.preview_rule_priorities.blue != var.preview_rule_priorities.green, false)
    error_message = "preview_rule_priorities: two different whole numbers between 1 and 50000."
  }
}

variable "preview_secret_parameter" {
  description = "SSM SecureString holding the value the preview secret header (X-Bluegreen-Preview-Key) must carry; null: no secret header (then preview_source_cidrs must restrict the rules)."
  type        = string
  default     = "/compiler-explorer/preview-secret"
}

variable "preview_source_cidrs" {
  description = "Source CIDRs allowed to use the preview routes (admin hosts, CI runners); [] for none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.preview_source_cidrs : can(cidrhost(c, 0))])
    error_message = "preview_source_cidrs: every entry must be a CIDR block."
  }
}

variable "smoke_paths" {
  description = "GET paths the deploy tool checks through the preview route before traffic moves, each with the status it must answer (besides the built-in <env path>/healthcheck)."
  type = list(object({
    path   = string
    status = optional(number, 200)
  }))
  default = []

  validation {
    condition     = alltrue([for p in var.smoke_paths : startswith(p.path, "/") && p.status >= 100 && p.status <= 599])
    error_message = "smoke_paths: each path starts with / and each status is an HTTP status (100-599)."
  }
}

variable "smoke_command" {
  description = "Command (sh -c) the deploy tool runs as a smoke test, with BLUEGREEN_SMOKE_URL, BLUEGREEN_SMOKE_HEADERS and BLUEGREEN_SMOKE_VERSION set; exit 0 passes. null: none."
  type        = string
  default     = null
}

locals {
  preview_enabled = var.preview_rule_priorities != null
  preview_secret  = local.preview_enabled && var.preview_secret_parameter != null
  # Listener key -> ARN: the path rule's listeners, or the two this (listener_default) module owns.
  preview_listeners = !local.preview_enabled ? {} : local.path_rule ? local.rule_listeners : {
    https = one(aws_lb_listener.https[*].arn)
    http  = one(aws_lb_listener.http[*].arn)
  }
  preview_rules = {
    for pair in setproduct(sort(keys(local.preview_listeners)), ["blue", "green"]) :
    "${pair[0]}-${pair[1]}" => { listener = pair[0], color = pair[1] }
  }
  # An ALB rule holds at most 5 condition values in all.
  preview_condition_values = 1 + (local.preview_secret ? 1 : 0) + length(var.preview_source_cidrs) + (local.path_rule ? length(var.path_patterns) : 0)

  # Published in the wiring (scripts/bgctl/preview.py): names only, never the secret itself.
  preview_wiring = local.preview_enabled ? {
    header           = "X-Bluegreen-Color"
    secret_header    = local.preview_secret ? "X-Bluegreen-Preview-Key" : null
    secret_parameter = local.preview_secret ? var.preview_secret_parameter : null
    source_cidrs     = var.preview_source_cidrs
    rule_priorities  = var.preview_rule_priorities
  } : null
  smoke_wiring = {
    paths   = [for p in var.smoke_paths : { path = p.path, status = p.status }]
    command = var.smoke_command
  }
}

data "aws_ssm_parameter" "preview_secret" {
  count = local.preview_secret ? 1 : 0

  name            = var.preview_secret_parameter
  with_decryption = true
}

resource "aws_lb_listener_rule" "preview" {
  for_each = local.preview_rules

  listener_arn = local.preview_listeners[each.value.listener]
  priority     = var.preview_rule_priorities[each.value.color]

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[each.value.color].arn
  }

  condition {
    http_header {
      http_header_name = "X-Bluegreen-Color"
      values           = [each.value.color]
    }
  }

  dynamic "condition" {
    for_each = local.preview_secret ? [1] : []
    content {
      http_header {
        http_header_name = "X-Bluegreen-Preview-Key"
        values           = [data.aws_ssm_parameter.preview_secret[0].value]
      }
    }
  }

  dynamic "condition" {
    for_each = length(var.preview_source_cidrs) > 0 ? [1] : []
    content {
      source_ip {
        values = var.preview_source_cidrs
      }
    }
  }

  dynamic "condition" {
    for_each = local.path_rule ? [1] : []
    content {
      path_pattern {
        values = var.path_patterns
      }
    }
  }

  tags = merge(var.tags, { Environment = var.environment, Color = each.value.color, Purpose = "preview" })

  lifecycle {
    precondition {
      condition     = local.preview_secret || length(var.preview_source_cidrs) > 0
      error_message = "Preview routes must be restricted: set preview_secret_parameter and/or preview_source_cidrs."
    }
    precondition {
      condition     = !local.path_rule || (var.rule_priority != null && max(var.preview_rule_priorities.blue, var.preview_rule_priorities.green) < coalesce(var.rule_priority, 0))
      error_message = "With routing = path_rule, preview_rule_priorities must be lower than rule_priority (evaluated before the environment's rule)."
    }
    precondition {
      condition     = local.preview_condition_values <= 5
      error_message = "A preview rule would need more than 5 condition values (ALB limit): fewer path_patterns or preview_source_cidrs."
    }
  }
}
