# One file, symlinked as variables.tf by every environment root (terraform/envs*/<env>): edit it here.
# What only one kind of root takes has its own file: http_rule.tf (path environments, from
# terraform/common) and ssl_policy.tf (prod, which terminates TLS).

variable "active_color" {
  description = "The color that receives traffic. Set in active_color.auto.tfvars.json, the file a switch rewrites."
  type        = string

  validation {
    condition     = contains(["blue", "green"], var.active_color)
    error_message = "active_color must be \"blue\" or \"green\"."
  }
}

# ---------------------------------------------------------------------------------------------------
# The account this root describes. Defaults: a fresh account (what terraform/shared creates; the
# sandbox and `make e2e`). adopt.auto.tfvars.json: compiler-explorer/infra's account (docs/MIGRATION.md).
# ---------------------------------------------------------------------------------------------------
variable "alb_name" {
  description = "Name of the shared ALB (fresh: compiler-explorer, created by terraform/shared; CE: GccExplorerApp)."
  type        = string
  default     = "compiler-explorer"
}

variable "subnet_names" {
  description = "Name tags of the instances' subnets (CE: CompilerExplorer1a ... 1f); empty: the VPC's subnets tagged Tier = private."
  type        = list(string)
  default     = []
}

variable "instance_security_group_name" {
  description = "Name of the instances' security group (fresh: compiler-explorer-web; CE: gcc-explorer-sg, which EFS, SMB, the ALB and the admin node admit)."
  type        = string
  default     = "compiler-explorer-web"
}

variable "instance_profile" {
  description = "The instances' instance profile: a name prefix (instance_profile_per_environment, fresh: compiler-explorer-web -> compiler-explorer-web-<env>) or the full name of an existing profile (CE: CompilerExplorerRole, CompilerExplorerWindowsRole)."
  type        = string
  default     = "compiler-explorer-web"
}

variable "instance_profile_per_environment" {
  description = "true: instance_profile is the prefix of terraform/shared's per-environment profiles; false: the full name of an existing profile."
  type        = bool
  default     = true
}

variable "key_name" {
  description = "EC2 key pair of the instances (null: none; CE: its admin key)."
  type        = string
  default     = null
}

variable "ami_id" {
  description = "Literal AMI ID of both colors (CE: the IDs its own launch templates pin); null: the most recent AMI matching the root's ami_name_pattern."
  type        = string
  default     = null
}

variable "root_volume_size" {
  description = "Root volume in GiB; null: the AMI's snapshot size (CE: its launch templates set none)."
  type        = number
  default     = 24
}

variable "boot_contract" {
  description = "How instances learn their build (docs/BOOT-CONTRACT.md): user_data (fresh: the module's user data reads the color's SSM version) or version_key (CE's AMIs read S3 version/<branch>.<color>)."
  type        = string
  default     = "user_data"
}

variable "instance_name_prefix" {
  description = "Prefix of the instances' Name tag (CE: ce-)."
  type        = string
  default     = ""
}

variable "detailed_monitoring" {
  description = "One-minute instance monitoring (CE: off)."
  type        = bool
  default     = true
}

variable "release_hooks" {
  description = "Release hooks of this environment (the module's release_hooks input; scripts/bgctl/hooks.py). None on a fresh account: the sandbox declares none."
  type        = any
  default     = []
}
