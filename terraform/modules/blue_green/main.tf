# The blue_green module: two colors (blue, green) of one environment behind the shared ALB.
#
# Ownership (see README.md):
#   Terraform  target groups, launch templates, ASG limits, scaling policies, the traffic action(s),
#              the SSM color parameters and the wiring parameter.
#   deploy tool  desired capacity, min size, suspended processes (capacity protection during deploys)
#              and the build each color boots: the per-color version parameters
#              /compiler-explorer/{env}/{color}/version and, with boot_contract = "version_key", the S3
#              objects <boot_version_key>.<color> (docs/BOOT-CONTRACT.md).
#
# THE SWITCH INVARIANT: var.active_color is referenced only by the traffic action(s)
# (aws_lb_listener_rule.this["https"/"http"], aws_lb_listener.https/http default_action) and the two SSM color
# parameters (active_color, active_target_group_arn); var.canary_weight (a canary step, canary.tf) only by
# the traffic action(s). tests/terraform enforces it.
#
# Files: main.tf (lookups, target groups, launch templates, ASGs, scaling), traffic.tf (the traffic
# actions), parameters.tf (SSM), canary.tf (weights, alarms, dashboard), preview.tf (preview routes).

locals {
  colors     = toset(["blue", "green"])
  param_root = "/compiler-explorer/${var.environment}"

  path_rule        = var.routing == "path_rule"
  listener_default = var.routing == "listener_default"
  http_rule        = local.path_rule && var.http_rule && var.http_listener_arn != null

  # The path rule goes on the HTTPS listener and, where one is given, the HTTP listener: one rule per
  # listener, keyed like the wiring's rule_arns.
  rule_listeners = local.path_rule ? merge(
    { https = var.https_listener_arn },
    local.http_rule ? { http = var.http_listener_arn } : {},
  ) : {}

  # Every group metric, instances and capacity units (free at one-minute granularity);
  # GroupInServiceInstances feeds the SQS backlog policy. The same 13 compiler-explorer/infra enables.
  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceCapacity",
    "GroupInServiceInstances",
    "GroupMaxSize",
    "GroupMinSize",
    "GroupPendingCapacity",
    "GroupPendingInstances",
    "GroupStandbyCapacity",
    "GroupStandbyInstances",
    "GroupTerminatingCapacity",
    "GroupTerminatingInstances",
    "GroupTotalCapacity",
    "GroupTotalInstances",
  ]

  # The boot contract (docs/BOOT-CONTRACT.md). user_data: the module's script reads the color's SSM
  # version parameter. version_key: the AMI boots on its own and reads <boot_version_key>.<color>
  # (then <boot_version_key>), which the deploy tool writes; no user data at all.
  user_data = var.boot_contract == "user_data" ? base64encode(templatefile("${path.module}/templates/${var.os == "windows" ? "user_data.ps1.tftpl" : "user_data.sh.tftpl"}", {
    environment   = var.environment
    param_root    = local.param_root
    builds_bucket = var.builds_bucket
    region        = data.aws_region.current.name # the parameters of the region the instance boots in
  })) : null
  version_keys = var.boot_contract == "version_key" ? merge(
    { live = var.boot_version_key },
    { for c in local.colors : c => "${var.boot_version_key}.${c}" },
  ) : {}
  boots_from = var.boot_contract == "version_key" ? "s3://${var.builds_bucket}/${var.boot_version_key}.<color>" : "${local.param_root}/<color>/version"

  instance_profile = var.iam_instance_profile_per_environment ? "${var.iam_instance_profile_name}-${var.environment}" : var.iam_instance_profile_name
  instance_names   = { for c in local.colors : c => "${var.instance_name_prefix}${var.environment}-${c}" }

  sqs_queues   = { for c in local.colors : c => lookup(var.sqs_queue_names, c, var.sqs_queue_name) }
  cpu_policies = { for c in local.colors : c => var.cpu_policy_name == null ? "${var.environment}-${c}-cpu" : replace(var.cpu_policy_name, "{color}", c) }
  sqs_policies = { for c in local.colors : c => var.sqs_policy_name == null ? "${var.environment}-${c}-sqs-backlog" : replace(var.sqs_policy_name, "{color}", c) }

  # The wiring (schema_version 1, see scripts/bgctl/wiring.py). It must not depend on active_color:
  # a switch changes the traffic action(s) and the two color parameters, never the wiring.
  # one() is null when the resource is not created; nulls are dropped, so "http" appears only where
  # an HTTP listener or rule exists and rule_arns is {} for listener_default.
  listener_arns = { for k, v in {
    https = local.listener_default ? one(aws_lb_listener.https[*].arn) : var.https_listener_arn
    http  = local.listener_default ? one(aws_lb_listener.http[*].arn) : (local.http_rule ? var.http_listener_arn : null)
  } : k => v if v != null }
  rule_arns = { for k, rule in aws_lb_listener_rule.this : k => rule.arn }
  wiring = {
    schema_version    = 1
    environment       = var.environment
    routing           = var.routing
    asg_names         = { for c in local.colors : c => aws_autoscaling_group.this[c].name }
    target_group_arns = { for c in local.colors : c => aws_lb_target_group.this[c].arn }
    listener_arns     = local.listener_arns
    rule_arns         = local.rule_arns
    path_patterns     = local.path_rule ? var.path_patterns : []
    rule_priority     = local.path_rule ? var.rule_priority : null
    protected         = var.protected
    canary            = local.canary_wiring # stickiness and alarm names (canary.tf)
    capacity = {
      min_size    = var.asg_min_size
      max_size    = var.asg_max_size
      min_healthy = var.min_healthy_instances
    }
    version_parameters = { for c in local.colors : c => "${local.param_root}/${c}/version" }
    boot = {
      contract     = var.boot_contract
      version_keys = local.version_keys
    }
    preview = local.preview_wiring # preview.tf
    smoke   = local.smoke_wiring
    builds = {
      bucket           = var.builds_bucket
      prefix           = "dist/gh/"
      discovery_prefix = "dist/discovery/"
      suffix           = var.os == "windows" ? ".zip" : ".tar.xz"
    }
    release_hooks = var.release_hooks
  }
}

# The AMI: a literal ID when given (found by image-id, so its root device and architecture are still
# read and checked), else the most recent of ami_name_pattern. The architecture filter makes an AMI of
# the wrong architecture a plan-time error, never a launch failure.
# The region this root applies in: the instances read their parameters there (user data), and the
# dashboard (canary.tf) shows that region's metrics.
data "aws_region" "current" {}

data "aws_ami" "this" {
  most_recent = true
  owners      = var.ami_owners

  dynamic "filter" {
    for_each = var.ami_id == null ? [] : [var.ami_id]
    content {
      name   = "image-id"
      values = [filter.value]
    }
  }

  dynamic "filter" {
    for_each = var.ami_id == null ? [var.ami_name_pattern] : []
    content {
      name   = "name"
      values = [filter.value]
    }
  }

  filter {
    name   = "architecture"
    values = [var.architecture]
  }

  lifecycle {
    precondition {
      condition     = var.ami_id != null || var.ami_name_pattern != null
      error_message = "Set ami_id (a literal AMI ID) or ami_name_pattern (the most recent match)."
    }
  }
}

# ---------------------------------------------------------------------------------------------------
# Per color: target group, launch template, Auto Scaling group
# ---------------------------------------------------------------------------------------------------
resource "aws_lb_target_group" "this" {
  # checkov:skip=CKV_AWS_378: TLS terminates at the ALB. Control instead: instances serve plain HTTP only inside the VPC, and their security group admits :80 only from the ALB's and the health checker's groups (terraform/shared)
  for_each = local.colors

  name                          = "${title(var.environment)}-${title(each.key)}"
  port                          = var.target_port
  protocol                      = "HTTP"
  vpc_id                        = var.vpc_id
  target_type                   = "instance"
  deregistration_delay          = var.deregistration_delay
  load_balancing_algorithm_type = var.load_balancing_algorithm

  health_check {
    enabled             = true
    path                = "/healthcheck"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 10
    timeout             = 8
    healthy_threshold   = 2
    unhealthy_threshold = var.unhealthy_threshold
  }

  tags = merge(var.tags, {
    Environment = var.environment
    Color       = each.key
  })
}

resource "aws_launch_template" "this" {
  for_each = local.colors

  name                   = "${var.environment}-${each.key}"
  description            = "${var.environment} ${each.key}: boots the build named by ${replace(local.boots_from, "<color>", each.key)}"
  image_id               = data.aws_ami.this.id
  instance_type          = var.instance_type
  key_name               = var.key_name
  vpc_security_group_ids = var.security_group_ids
  user_data              = local.user_data
  ebs_optimized          = true
  update_default_version = true

  # The environment's own profile (terraform/shared creates "<prefix>-<environment>"): its role reads
  # only this environment's version parameters and wiring, never another environment's. Or, where
  # iam_instance_profile_per_environment is false, an existing profile by its full name.
  iam_instance_profile {
    name = local.instance_profile
  }

  # IMDSv2 only; instance tags in metadata so an instance reads its own Color tag at boot.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
  }

  monitoring {
    enabled = var.detailed_monitoring
  }

  block_device_mappings {
    device_name = data.aws_ami.this.root_device_name

    ebs {
      volume_size           = var.root_volume_size # null: the AMI's snapshot size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags = merge(var.tags, {
      Environment = var.environment
      Color       = each.key
      Name        = local.instance_names[each.key]
    })
  }

  tag_specifications {
    resource_type = "volume"
    tags = merge(var.tags, {
      Environment = var.environment
      Color       = each.key
    })
  }

  tags = merge(var.tags, {
    Environment = var.environment
    Color       = each.key
  })
}

resource "aws_autoscaling_group" "this" {
  for_each = local.colors

  name                      = "${var.environment}-${each.key}"
  min_size                  = var.asg_min_size
  max_size                  = var.asg_max_size
  vpc_zone_identifier       = var.subnet_ids
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period
  default_cooldown          = var.default_cooldown
  target_group_arns         = [aws_lb_target_group.this[each.key].arn]
  enabled_metrics           = local.enabled_metrics
  # No instance_refresh: a new launch template version reaches instances only when the deploy
  # tool scales a color up, never by replacing the active color's instances behind its back.

  dynamic "launch_template" {
    for_each = var.use_mixed_instances_policy ? [] : [1]
    content {
      id = aws_launch_template.this[each.key].id
      # Pinned, never "$Latest": the version Terraform last wrote is the one that boots.
      version = aws_launch_template.this[each.key].latest_version
    }
  }

  dynamic "mixed_instances_policy" {
    for_each = var.use_mixed_instances_policy ? [1] : []
    content {
      instances_distribution {
        on_demand_base_capacity                  = var.on_demand_base_capacity
        on_demand_percentage_above_base_capacity = var.on_demand_percentage_above_base_capacity
        spot_allocation_strategy                 = var.spot_allocation_strategy
      }

      launch_template {
        launch_template_specification {
          launch_template_id = aws_launch_template.this[each.key].id
          version            = aws_launch_template.this[each.key].latest_version
        }

        dynamic "override" {
          for_each = var.mixed_instance_types
          content {
            instance_type = override.value
          }
        }
      }
    }
  }

  tag {
    key                 = "Environment"
    value               = var.environment
    propagate_at_launch = true
  }

  tag {
    key                 = "Color"
    value               = each.key
    propagate_at_launch = true
  }

  tag {
    key                 = "Name"
    value               = local.instance_names[each.key]
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = var.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    ignore_changes = [
      desired_capacity,    # owned by the deploy tool: it scales colors up and down
      min_size,            # owned by the deploy tool: raised during deploys, reset at cleanup
      suspended_processes, # owned by the deploy tool: capacity protection of the active color
    ]

    precondition {
      condition     = var.asg_min_size <= var.asg_max_size
      error_message = "asg_min_size must not exceed asg_max_size."
    }

    precondition {
      condition     = var.min_healthy_instances <= var.asg_max_size
      error_message = "min_healthy_instances must not exceed asg_max_size."
    }

    precondition {
      condition     = !var.use_mixed_instances_policy || length(var.mixed_instance_types) > 0
      error_message = "use_mixed_instances_policy needs at least one entry in mixed_instance_types."
    }
  }
}

# ---------------------------------------------------------------------------------------------------
# Scaling policies, one per color
# ---------------------------------------------------------------------------------------------------
resource "aws_autoscaling_policy" "cpu" {
  for_each = var.enable_autoscaling_policy ? local.colors : toset([])

  name                      = local.cpu_policies[each.key]
  autoscaling_group_name    = aws_autoscaling_group.this[each.key].name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = var.estimated_instance_warmup

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.cpu_target
  }
}

resource "aws_autoscaling_policy" "sqs_backlog" {
  for_each = var.enable_sqs_autoscaling ? local.colors : toset([])

  name                      = local.sqs_policies[each.key]
  autoscaling_group_name    = aws_autoscaling_group.this[each.key].name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = var.estimated_instance_warmup

  # Backlog per instance = visible messages / in-service instances of THIS color. With no
  # instances in service the expression has no data, so an idle color never scales from zero.
  target_tracking_configuration {
    target_value = var.sqs_messages_per_instance

    customized_metric_specification {
      metrics {
        id          = "visible"
        label       = "Visible messages in ${coalesce(local.sqs_queues[each.key], "-")}"
        return_data = false

        metric_stat {
          stat = "Sum"
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"
            dimensions {
              name  = "QueueName"
              value = local.sqs_queues[each.key]
            }
          }
        }
      }

      metrics {
        id          = "in_service"
        label       = "In-service instances of ${aws_autoscaling_group.this[each.key].name}"
        return_data = false

        metric_stat {
          stat = "Average"
          metric {
            namespace   = "AWS/AutoScaling"
            metric_name = "GroupInServiceInstances"
            dimensions {
              name  = "AutoScalingGroupName"
              value = aws_autoscaling_group.this[each.key].name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_instance"
        label       = "Visible messages per in-service instance"
        expression  = "visible / in_service"
        return_data = true
      }
    }
  }

  lifecycle {
    precondition {
      condition     = local.sqs_queues[each.key] != null
      error_message = "enable_sqs_autoscaling needs sqs_queue_name, or sqs_queue_names for every color."
    }
  }
}
