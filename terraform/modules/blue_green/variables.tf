# Inputs of the blue_green module. Every enum-like or bounded input has a validation block; facts
# that involve two inputs (min <= max, routing needs its listener) are lifecycle preconditions in
# main.tf, because cross-variable validation needs Terraform 1.9 and we support >= 1.5.

# ---------------------------------------------------------------------------------------------------
# Identity and the switch
# ---------------------------------------------------------------------------------------------------
variable "environment" {
  description = "Environment name (beta, prod, ...): used in resource names, tags and SSM paths."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,31}$", var.environment))
    error_message = "environment must match ^[a-z][a-z0-9]{1,31}$ (lower-case letters and digits, starting with a letter, 2-32 characters)."
  }
}

variable "active_color" {
  description = "The color that receives traffic. Referenced only by the traffic action(s) and the two SSM color parameters (the switch invariant)."
  type        = string

  validation {
    condition     = contains(["blue", "green"], var.active_color)
    error_message = "active_color must be \"blue\" or \"green\"."
  }
}

# ---------------------------------------------------------------------------------------------------
# Traffic routing
# ---------------------------------------------------------------------------------------------------
variable "routing" {
  description = "How traffic reaches the active color: \"path_rule\" (listener rules with path patterns on existing listeners) or \"listener_default\" (the module owns the HTTP and HTTPS listeners and switches their default action; prod)."
  type        = string
  default     = "path_rule"

  validation {
    condition     = contains(["path_rule", "listener_default"], var.routing)
    error_message = "routing must be \"path_rule\" or \"listener_default\"."
  }
}

variable "load_balancer_arn" {
  description = "ARN of the shared Application Load Balancer. Required for listener_default (the module creates the listeners on it)."
  type        = string
  default     = null
}

variable "https_listener_arn" {
  description = "ARN of the HTTPS (:443) listener the path rule is added to. Required for path_rule."
  type        = string
  default     = null
}

variable "http_listener_arn" {
  description = "ARN of the HTTP (:80) listener; when set (path_rule) and http_rule is true, an identical rule is added to it."
  type        = string
  default     = null
}

variable "http_rule" {
  description = "Also add the path rule to the HTTP listener (path_rule, when http_listener_arn is set). false: HTTPS only, as compiler-explorer/infra routes (its ALB admits only :443 and CloudFront reaches it over HTTPS)."
  type        = bool
  default     = true
}

variable "path_patterns" {
  description = "Path patterns of the listener rule (path_rule), e.g. [\"/beta*\"]. At most 5."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.path_patterns) <= 5 && alltrue([for p in var.path_patterns : can(regex("^/[A-Za-z0-9_./*?-]*$", p))])
    error_message = "path_patterns must hold at most 5 patterns, each starting with \"/\" and using only letters, digits, _ . / - and the wildcards * and ?."
  }
}

variable "rule_priority" {
  description = "Priority of the listener rule(s) (path_rule): 1-50000, unique per listener; lower is evaluated first."
  type        = number
  default     = null

  validation {
    condition     = var.rule_priority == null || (try(var.rule_priority >= 1 && var.rule_priority <= 50000 && floor(var.rule_priority) == var.rule_priority, false))
    error_message = "rule_priority must be a whole number from 1 to 50000."
  }
}

variable "certificate_arn" {
  description = "ACM certificate ARN of the HTTPS listener (listener_default)."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (listener_default)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = can(regex("^ELBSecurityPolicy-", var.ssl_policy))
    error_message = "ssl_policy must be an ELBSecurityPolicy-* name."
  }
}

# ---------------------------------------------------------------------------------------------------
# Network and instances
# ---------------------------------------------------------------------------------------------------
variable "vpc_id" {
  description = "VPC of the target groups."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets the Auto Scaling groups launch into."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the instances (must admit the load balancer on the target port)."
  type        = list(string)
}

variable "iam_instance_profile_name" {
  description = "Name prefix of the instance profiles terraform/shared creates, one per environment: the launch templates use \"<prefix>-<environment>\", whose role reads only this environment's version parameters, its wiring and the builds bucket. With iam_instance_profile_per_environment = false: the full name of an existing profile (compiler-explorer/infra's CompilerExplorerRole, CompilerExplorerWindowsRole)."
  type        = string
}

variable "iam_instance_profile_per_environment" {
  description = "true: the launch templates use \"<iam_instance_profile_name>-<environment>\" (terraform/shared creates one per environment); false: iam_instance_profile_name is the profile's full name."
  type        = bool
  default     = true
}

variable "key_name" {
  description = "EC2 key pair of the instances (null: none; compiler-explorer/infra's launch templates use one for admin SSH)."
  type        = string
  default     = null
}

variable "detailed_monitoring" {
  description = "One-minute (detailed) CloudWatch monitoring of the instances (false: five-minute basic monitoring, as compiler-explorer/infra runs them)."
  type        = bool
  default     = true
}

variable "instance_name_prefix" {
  description = "Prefix of the Name tag of the ASGs and their instances: \"<prefix><environment>-<color>\" (compiler-explorer/infra: \"ce-\")."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{0,16}$", var.instance_name_prefix))
    error_message = "instance_name_prefix must be at most 16 letters, digits or hyphens."
  }
}

variable "boot_contract" {
  description = "How an instance learns the build it boots (docs/BOOT-CONTRACT.md). \"user_data\": the module's user data reads SSM /compiler-explorer/<env>/<color>/version. \"version_key\": no user data; the AMI's own boot scripts read the S3 object <boot_version_key>.<color> (falling back to <boot_version_key>), whose body is the build's full key; the deploy tool writes it (published in the wiring)."
  type        = string
  default     = "user_data"

  validation {
    condition     = contains(["user_data", "version_key"], var.boot_contract)
    error_message = "boot_contract must be \"user_data\" or \"version_key\"."
  }
}

variable "boot_version_key" {
  description = "The S3 key (in builds_bucket) that the AMI's boot scripts read for this environment's build, e.g. \"version/release\" for prod, \"version/winprod\" for winprod (boot_contract = \"version_key\"). Each color reads \"<key>.<color>\" first."
  type        = string
  default     = null

  validation {
    condition     = var.boot_version_key == null || can(regex("^[A-Za-z0-9_./-]+[A-Za-z0-9_-]$", var.boot_version_key))
    error_message = "boot_version_key must be an S3 key of letters, digits and _ . / - (not ending in . or /)."
  }
}

variable "ami_id" {
  description = "A literal AMI ID for both colors (like compiler-explorer/infra's lc.tf): no name lookup, so a packer run never changes a launch template behind a reviewed plan. null: the most recent AMI matching ami_name_pattern. Either way the AMI must have the given architecture and owners."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be null or an AMI ID such as ami-0f2092af088f26ebc."
  }
}

variable "ami_name_pattern" {
  description = "Name pattern of the AMI when ami_id is null (most recent match with the given architecture and owners), e.g. \"compiler-explorer-packer-*\" or compiler-explorer/infra's \"compiler-explorer packer 24.04 @ *\"."
  type        = string
  default     = null
}

variable "ami_owners" {
  description = "Account IDs (or \"self\") that own the AMI."
  type        = list(string)
  default     = ["self"]
}

variable "architecture" {
  description = "CPU architecture of the AMI and instance types: x86_64 or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be \"x86_64\" or \"arm64\"."
  }
}

variable "os" {
  description = "Operating system of the AMI; selects the user data variant: linux or windows."
  type        = string
  default     = "linux"

  validation {
    condition     = contains(["linux", "windows"], var.os)
    error_message = "os must be \"linux\" or \"windows\"."
  }
}

variable "instance_type" {
  description = "Instance type of the launch template (also the first choice when mixed instances are used)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like an EC2 instance type, e.g. m6i.large."
  }
}

variable "root_volume_size" {
  description = "Size in GiB of the encrypted root volume; null: the AMI's own snapshot size (at least that size is required: a Windows Server 2022 image needs 30 GiB or more)."
  type        = number
  default     = 24

  validation {
    condition     = var.root_volume_size == null || try(var.root_volume_size >= 8 && var.root_volume_size <= 1024, false)
    error_message = "root_volume_size must be null or from 8 to 1024 GiB."
  }
}

variable "builds_bucket" {
  description = "S3 bucket holding the builds (dist/gh/) and discovery files (dist/discovery/)."
  type        = string
  default     = "compiler-explorer"
}

# ---------------------------------------------------------------------------------------------------
# Target groups and health
# ---------------------------------------------------------------------------------------------------
variable "target_port" {
  description = "Port the instances serve HTTP on."
  type        = number
  default     = 80

  validation {
    condition     = var.target_port >= 1 && var.target_port <= 65535
    error_message = "target_port must be from 1 to 65535."
  }
}

variable "deregistration_delay" {
  description = "Seconds the target group drains a deregistering target (small: the old color stays warm anyway)."
  type        = number
  default     = 20

  validation {
    condition     = var.deregistration_delay >= 0 && var.deregistration_delay <= 3600
    error_message = "deregistration_delay must be from 0 to 3600 seconds."
  }
}

variable "unhealthy_threshold" {
  description = "Consecutive failed health checks (every 10 s) before the target group marks a target unhealthy (compiler-explorer/infra: 3)."
  type        = number
  default     = 2

  validation {
    condition     = var.unhealthy_threshold >= 2 && var.unhealthy_threshold <= 10
    error_message = "unhealthy_threshold must be from 2 to 10."
  }
}

variable "load_balancing_algorithm" {
  description = "How the target groups spread requests: round_robin, or least_outstanding_requests (compiler-explorer/infra: compilations differ wildly in cost)."
  type        = string
  default     = "round_robin"

  validation {
    condition     = contains(["round_robin", "least_outstanding_requests"], var.load_balancing_algorithm)
    error_message = "load_balancing_algorithm must be \"round_robin\" or \"least_outstanding_requests\"."
  }
}

variable "health_check_grace_period" {
  description = "Seconds after launch before the ASG acts on ELB health checks (Windows boots slowly: 300-500)."
  type        = number
  default     = 120

  validation {
    condition     = var.health_check_grace_period > 0 && var.health_check_grace_period <= 7200
    error_message = "health_check_grace_period must be greater than 0 and at most 7200 seconds."
  }
}

# ---------------------------------------------------------------------------------------------------
# Capacity (limits only: desired and min during deploys belong to the deploy tool)
# ---------------------------------------------------------------------------------------------------
variable "asg_min_size" {
  description = "Initial minimum size of each color's ASG (afterwards owned by the deploy tool; ignore_changes)."
  type        = number
  default     = 0

  validation {
    condition     = var.asg_min_size >= 0
    error_message = "asg_min_size must be 0 or more."
  }
}

variable "asg_max_size" {
  description = "Maximum size of each color's ASG (Terraform-owned; must be >= asg_min_size)."
  type        = number

  validation {
    condition     = var.asg_max_size >= 1 && var.asg_max_size <= 500
    error_message = "asg_max_size must be from 1 to 500."
  }
}

variable "default_cooldown" {
  description = "Seconds between scaling activities of simple scaling (the ASG's DefaultCooldown); null: AWS's default, 300."
  type        = number
  default     = null

  validation {
    condition     = var.default_cooldown == null || try(var.default_cooldown >= 0 && var.default_cooldown <= 3600, false)
    error_message = "default_cooldown must be null or from 0 to 3600 seconds."
  }
}

variable "protected" {
  description = "A production environment: the CLI asks for the environment name typed before it changes this environment's capacity or traffic (unless --yes), and CI deploys it behind the production GitHub environment. Published in the wiring."
  type        = bool
  default     = false
}

variable "min_healthy_instances" {
  description = "Healthy instances the deploy tool requires before switching to a color (published in the wiring)."
  type        = number
  default     = 1

  validation {
    condition     = var.min_healthy_instances >= 1
    error_message = "min_healthy_instances must be 1 or more."
  }
}

# ---------------------------------------------------------------------------------------------------
# Mixed instances
# ---------------------------------------------------------------------------------------------------
variable "use_mixed_instances_policy" {
  description = "Use a mixed instances policy (on-demand base plus spot) with mixed_instance_types overrides."
  type        = bool
  default     = false
}

variable "mixed_instance_types" {
  description = "Instance type overrides of the mixed instances policy (required when use_mixed_instances_policy)."
  type        = list(string)
  default     = []
}

variable "on_demand_base_capacity" {
  description = "On-demand instances before any spot (mixed instances)."
  type        = number
  default     = 0

  validation {
    condition     = var.on_demand_base_capacity >= 0
    error_message = "on_demand_base_capacity must be 0 or more."
  }
}

variable "on_demand_percentage_above_base_capacity" {
  description = "Percentage (0-100) of on-demand instances above the base (mixed instances)."
  type        = number
  default     = 100

  validation {
    condition     = var.on_demand_percentage_above_base_capacity >= 0 && var.on_demand_percentage_above_base_capacity <= 100
    error_message = "on_demand_percentage_above_base_capacity must be from 0 to 100."
  }
}

variable "spot_allocation_strategy" {
  description = "Spot allocation strategy (mixed instances)."
  type        = string
  default     = "price-capacity-optimized"

  validation {
    condition     = contains(["lowest-price", "capacity-optimized", "capacity-optimized-prioritized", "price-capacity-optimized"], var.spot_allocation_strategy)
    error_message = "spot_allocation_strategy must be lowest-price, capacity-optimized, capacity-optimized-prioritized or price-capacity-optimized."
  }
}

# ---------------------------------------------------------------------------------------------------
# Scaling policies (one per color)
# ---------------------------------------------------------------------------------------------------
variable "enable_autoscaling_policy" {
  description = "Add a CPU target tracking policy to each color's ASG."
  type        = bool
  default     = false
}

variable "cpu_target" {
  description = "Average CPU utilisation (percent, 1-100) the CPU policy tracks."
  type        = number
  default     = 50

  validation {
    condition     = var.cpu_target > 0 && var.cpu_target <= 100
    error_message = "cpu_target must be greater than 0 and at most 100 (percent)."
  }
}

variable "enable_sqs_autoscaling" {
  description = "Add an SQS backlog-per-instance target tracking policy to each color's ASG."
  type        = bool
  default     = false
}

variable "sqs_queue_name" {
  description = "Queue whose ApproximateNumberOfMessagesVisible drives the backlog policy (required when enable_sqs_autoscaling)."
  type        = string
  default     = null
}

variable "sqs_queue_names" {
  description = "Per-color queues for the backlog policy ({blue = ..., green = ...}), e.g. beta's colored compilation queues; a color not listed uses sqs_queue_name."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for c in keys(var.sqs_queue_names) : contains(["blue", "green"], c)])
    error_message = "sqs_queue_names keys must be \"blue\" or \"green\"."
  }
}

variable "sqs_messages_per_instance" {
  description = "Visible messages per in-service instance the backlog policy tracks."
  type        = number
  default     = 3

  validation {
    condition     = var.sqs_messages_per_instance > 0 && var.sqs_messages_per_instance <= 10000
    error_message = "sqs_messages_per_instance must be greater than 0 and at most 10000."
  }
}

variable "estimated_instance_warmup" {
  description = "Seconds a new instance is given before its metrics count in the scaling policies (null: the group's default, its health check grace period)."
  type        = number
  default     = null

  validation {
    condition     = var.estimated_instance_warmup == null || try(var.estimated_instance_warmup >= 0 && var.estimated_instance_warmup <= 3600, false)
    error_message = "estimated_instance_warmup must be null or from 0 to 3600 seconds."
  }
}

variable "cpu_policy_name" {
  description = "Name of the CPU policy on each color's ASG; \"{color}\" is replaced by the color. null: \"<environment>-<color>-cpu\". Names are what an existing policy is imported by (compiler-explorer/infra: \"cpu-tracker\")."
  type        = string
  default     = null
}

variable "sqs_policy_name" {
  description = "Name of the SQS backlog policy on each color's ASG; \"{color}\" is replaced by the color. null: \"<environment>-<color>-sqs-backlog\" (compiler-explorer/infra: \"aarch64prod-mq-tracker-{color}\", \"beta-compilation-queue-tracker-{color}\")."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------------------------------
# Release hooks (scripts/bgctl/hooks.py): published in the wiring, run by the deploy tool
# ---------------------------------------------------------------------------------------------------
variable "release_hooks" {
  description = "Side effects of a release around the switch, in order (scripts/bgctl/hooks.py): name, kind (deploy_log, cdn_static, http_post, version_key), phase (pre-switch, post-switch), string params, and the operations (deploy, switch, rollback) they run for. Published in the wiring; none by default."
  type = list(object({
    name       = string
    kind       = string
    phase      = string
    params     = optional(map(string), {})
    operations = optional(list(string), ["deploy"])
  }))
  default = []

  validation {
    condition     = alltrue([for h in var.release_hooks : contains(["deploy_log", "cdn_static", "http_post", "version_key"], h.kind)])
    error_message = "release_hooks: every kind must be deploy_log, cdn_static, http_post or version_key."
  }

  validation {
    condition     = alltrue([for h in var.release_hooks : contains(["pre-switch", "post-switch"], h.phase)])
    error_message = "release_hooks: every phase must be \"pre-switch\" or \"post-switch\"."
  }

  validation {
    condition     = alltrue([for h in var.release_hooks : length(h.operations) > 0 && alltrue([for o in h.operations : contains(["deploy", "switch", "rollback"], o)])])
    error_message = "release_hooks: operations must be a non-empty list of deploy, switch, rollback."
  }

  validation {
    condition     = length(distinct([for h in var.release_hooks : h.name])) == length(var.release_hooks) && alltrue([for h in var.release_hooks : can(regex("^[a-z][a-z0-9_-]{0,31}$", h.name))])
    error_message = "release_hooks: names must be unique, lower-case letters, digits, _ or - (at most 32)."
  }
}

variable "tags" {
  description = "Extra tags for every resource (the provider's default_tags apply as well)."
  type        = map(string)
  default     = {}
}
