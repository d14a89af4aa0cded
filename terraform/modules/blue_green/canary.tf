# Canary releases and blue-green metrics: the weighted forward the traffic action(s) in traffic.tf use,
# one set of CloudWatch alarms per color and one dashboard per environment.
#
# THE SWITCH INVARIANT, extended: var.canary_weight (like var.active_color) reaches only the traffic
# action(s). local.weighted_forward and local.canary_color below depend on them and are read by the
# traffic action(s) alone; the alarms, the dashboard and the wiring's canary block depend on neither,
# so a canary step plans exactly the rule action(s) or listener default action(s), in place.
# tests/terraform enforces it.

locals {
  # The color a canary step sends var.canary_weight percent of requests to.
  canary_color = var.active_color == "blue" ? "green" : "blue"

  # Weight 0: no forward block (the action forwards to active_color's group through target_group_arn,
  # exactly the plain forward of an environment that never ran a canary). Otherwise one forward block:
  # both target groups with their weights, and stickiness so a user stays on one color.
  weighted_forward = var.canary_weight == 0 ? [] : [{
    stickiness_seconds = var.canary_stickiness_seconds
    target_groups = [
      { arn = aws_lb_target_group.this[var.active_color].arn, weight = 100 - var.canary_weight },
      { arn = aws_lb_target_group.this[local.canary_color].arn, weight = var.canary_weight },
    ]
  }]

  # CloudWatch's LoadBalancer dimension ("app/<name>/<id>") of the shared ALB: from its ARN where the
  # module owns the listeners, else from the HTTPS listener's ARN (listener/app/<name>/<id>/<listener>).
  load_balancer_dimension = local.listener_default ? try(regex("loadbalancer/(.+)$", var.load_balancer_arn)[0], "") : try(join("/", slice(split("/", var.https_listener_arn), 1, 4)), "")

  alarm_kinds = {
    "target-5xx-rate" = "more than ${var.alarm_5xx_rate_percent}% of requests answered 5xx by the targets"
    "unhealthy-hosts" = "more than ${var.alarm_unhealthy_hosts} unhealthy target(s)"
    "p99-latency"     = "p99 target response time above ${var.alarm_p99_latency_seconds}s"
  }
  # Alarm names are "<env>-<color>-<kind>"; the wiring publishes them (canary.alarms), the deploy tool
  # never builds them itself.
  alarm_names = { for c in local.colors : c => { for k, _ in local.alarm_kinds : k => "${var.environment}-${c}-${k}" } }

  tg_dimensions = {
    for c in local.colors : c => {
      TargetGroup  = aws_lb_target_group.this[c].arn_suffix
      LoadBalancer = local.load_balancer_dimension
    }
  }

  # Published in the wiring (main.tf, local.wiring.canary); scripts/bgctl/wiring.py parses it.
  canary_wiring = {
    stickiness_seconds = var.canary_stickiness_seconds
    alarms = { for c in local.colors : c => [
      aws_cloudwatch_metric_alarm.target_5xx_rate[c].alarm_name,
      aws_cloudwatch_metric_alarm.unhealthy_hosts[c].alarm_name,
      aws_cloudwatch_metric_alarm.p99_latency[c].alarm_name,
    ] }
  }
}

# ---------------------------------------------------------------------------------------------------
# Alarms, per color. Missing data (a color without traffic or instances) is not breaching.
# ---------------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "target_5xx_rate" {
  for_each = local.colors

  alarm_name          = local.alarm_names[each.key]["target-5xx-rate"]
  alarm_description   = "${var.environment} ${each.key}: ${local.alarm_kinds["target-5xx-rate"]} (watched by canary bakes)"
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = var.alarm_5xx_rate_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  metric_query {
    id          = "errors"
    return_data = false

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      period      = var.alarm_period_seconds
      stat        = "Sum"
      dimensions  = local.tg_dimensions[each.key]
    }
  }

  metric_query {
    id          = "requests"
    return_data = false

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      period      = var.alarm_period_seconds
      stat        = "Sum"
      dimensions  = local.tg_dimensions[each.key]
    }
  }

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)"
    label       = "5xx percent of ${each.key} requests"
    return_data = true
  }

  tags = merge(var.tags, { Environment = var.environment, Color = each.key })
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  for_each = local.colors

  alarm_name          = local.alarm_names[each.key]["unhealthy-hosts"]
  alarm_description   = "${var.environment} ${each.key}: ${local.alarm_kinds["unhealthy-hosts"]} (watched by canary bakes)"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = local.tg_dimensions[each.key]
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = var.alarm_unhealthy_hosts
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  tags = merge(var.tags, { Environment = var.environment, Color = each.key })
}

resource "aws_cloudwatch_metric_alarm" "p99_latency" {
  for_each = local.colors

  alarm_name          = local.alarm_names[each.key]["p99-latency"]
  alarm_description   = "${var.environment} ${each.key}: ${local.alarm_kinds["p99-latency"]} (watched by canary bakes)"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = local.tg_dimensions[each.key]
  extended_statistic  = "p99"
  period              = var.alarm_period_seconds
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = var.alarm_p99_latency_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  tags = merge(var.tags, { Environment = var.environment, Color = each.key })
}

# ---------------------------------------------------------------------------------------------------
# Dashboard: both colors side by side (requests, target 5xx, p99 latency, healthy hosts) and the alarms
# ---------------------------------------------------------------------------------------------------
locals {
  color_hex = { blue = "#1f77b4", green = "#2ca02c" }
  dashboard_graphs = [
    { title = "Requests", metric = "RequestCount", stat = "Sum" },
    { title = "Target 5xx", metric = "HTTPCode_Target_5XX_Count", stat = "Sum" },
    { title = "p99 target response time (s)", metric = "TargetResponseTime", stat = "p99" },
    { title = "Healthy hosts", metric = "HealthyHostCount", stat = "Minimum" },
  ]
  dashboard_widgets = concat(
    [for i, g in local.dashboard_graphs : {
      type   = "metric"
      x      = (i % 2) * 12
      y      = floor(i / 2) * 6
      width  = 12
      height = 6
      properties = {
        title  = "${var.environment}: ${g.title}"
        view   = "timeSeries"
        region = data.aws_region.current.name
        stat   = g.stat
        period = var.alarm_period_seconds
        metrics = [for c in sort(tolist(local.colors)) : [
          "AWS/ApplicationELB", g.metric,
          "TargetGroup", local.tg_dimensions[c].TargetGroup,
          "LoadBalancer", local.tg_dimensions[c].LoadBalancer,
          { label = c, color = local.color_hex[c] },
        ]]
      }
    }],
    [{
      type   = "alarm"
      x      = 0
      y      = 12
      width  = 24
      height = 4
      properties = {
        title = "${var.environment}: canary alarms"
        alarms = flatten([for c in sort(tolist(local.colors)) : [
          aws_cloudwatch_metric_alarm.target_5xx_rate[c].arn,
          aws_cloudwatch_metric_alarm.unhealthy_hosts[c].arn,
          aws_cloudwatch_metric_alarm.p99_latency[c].arn,
        ]])
      }
    }],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "bluegreen-${var.environment}"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
