# Inputs of the canary (weighted traffic) and of the per-color alarms and dashboard (canary.tf).
# Like every input of this module, each validation reads only its own variable (Terraform >= 1.5).

# ---------------------------------------------------------------------------------------------------
# The canary weight: with active_color, the only input the traffic action(s) read
# ---------------------------------------------------------------------------------------------------
variable "canary_weight" {
  description = "Percent of requests (integer 0-99) sent to the color that is NOT active_color. 0 is the plain forward to active_color; any other value makes the traffic action(s) a weighted forward to both target groups with target-group stickiness. Set in active_color.auto.tfvars.json next to active_color; referenced only by the traffic action(s) (the switch invariant)."
  type        = number
  default     = 0

  validation {
    condition     = var.canary_weight >= 0 && var.canary_weight <= 99 && var.canary_weight == floor(var.canary_weight)
    error_message = "canary_weight must be an integer from 0 to 99 (100 is a switch: change active_color)."
  }
}

variable "canary_stickiness_seconds" {
  description = "Target-group stickiness of the weighted forward (seconds, 1-604800): a user stays on one color for this long during a canary. Published in the wiring (canary.stickiness_seconds) for the API driver."
  type        = number
  default     = 3600

  validation {
    condition     = var.canary_stickiness_seconds >= 1 && var.canary_stickiness_seconds <= 604800 && var.canary_stickiness_seconds == floor(var.canary_stickiness_seconds)
    error_message = "canary_stickiness_seconds must be an integer from 1 to 604800 (7 days)."
  }
}

# ---------------------------------------------------------------------------------------------------
# Per-color alarms (watched by the deploy tool during a canary's bake) and the dashboard
# ---------------------------------------------------------------------------------------------------
variable "alarm_5xx_rate_percent" {
  description = "Target 5xx alarm of each color: ALARM when more than this percent of the color's requests get a 5xx from its targets (HTTPCode_Target_5XX_Count / RequestCount)."
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_5xx_rate_percent > 0 && var.alarm_5xx_rate_percent <= 100
    error_message = "alarm_5xx_rate_percent must be greater than 0 and at most 100."
  }
}

variable "alarm_unhealthy_hosts" {
  description = "Unhealthy-host alarm of each color: ALARM when the target group's UnHealthyHostCount (maximum) exceeds this number."
  type        = number
  default     = 0

  validation {
    condition     = var.alarm_unhealthy_hosts >= 0 && var.alarm_unhealthy_hosts == floor(var.alarm_unhealthy_hosts)
    error_message = "alarm_unhealthy_hosts must be a whole number, 0 or more."
  }
}

variable "alarm_p99_latency_seconds" {
  description = "Latency alarm of each color: ALARM when the p99 TargetResponseTime of the color's requests exceeds this many seconds (compilations are slow: keep it generous)."
  type        = number
  default     = 10

  validation {
    condition     = var.alarm_p99_latency_seconds > 0 && var.alarm_p99_latency_seconds <= 3600
    error_message = "alarm_p99_latency_seconds must be greater than 0 and at most 3600."
  }
}

variable "alarm_period_seconds" {
  description = "Period of every alarm's metric (seconds): 10, 30 or a multiple of 60."
  type        = number
  default     = 60

  validation {
    condition     = contains([10, 30], var.alarm_period_seconds) || (var.alarm_period_seconds >= 60 && var.alarm_period_seconds % 60 == 0)
    error_message = "alarm_period_seconds must be 10, 30 or a multiple of 60."
  }
}

variable "alarm_evaluation_periods" {
  description = "Consecutive breaching periods before an alarm fires (1-10). A bake should last at least alarm_period_seconds times this."
  type        = number
  default     = 3

  validation {
    condition     = var.alarm_evaluation_periods >= 1 && var.alarm_evaluation_periods <= 10 && var.alarm_evaluation_periods == floor(var.alarm_evaluation_periods)
    error_message = "alarm_evaluation_periods must be an integer from 1 to 10."
  }
}

variable "alarm_actions" {
  description = "ARNs (SNS topics) notified when an alarm enters or leaves ALARM. The deploy tool does not need them: it polls the alarms during a bake."
  type        = list(string)
  default     = []
}
