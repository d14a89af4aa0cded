# Inputs of the shared root. The defaults describe a fresh account, where this root creates the ALB, the
# security groups and the instance roles (what the sandbox and `make e2e` build); adopt.auto.tfvars.json
# describes compiler-explorer/infra's account, where all of them exist already (docs/MIGRATION.md).

variable "create_alb" {
  description = "Create the ALB (and its CloudFront-only security groups). false: use the existing ALB named alb_name, which this root then neither changes nor destroys."
  type        = bool
  default     = true
}

variable "alb_name" {
  description = "Name of the ALB: the one created (create_alb) or the existing one (compiler-explorer/infra: GccExplorerApp)."
  type        = string
  default     = "compiler-explorer"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,31}$", var.alb_name))
    error_message = "alb_name must be 1-32 letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "create_security_groups" {
  description = "Create the instances' security group and the health checker's group. false: use the existing groups named below, and own only the health checker's :80 probe rule on the instances' group."
  type        = bool
  default     = true
}

variable "instance_security_group_name" {
  description = "Name of the instances' security group (compiler-explorer/infra: gcc-explorer-sg, which EFS, SMB, the ALB and the admin node already admit)."
  type        = string
  default     = "compiler-explorer-web"
}

variable "health_checker_security_group_name" {
  description = "Name of the group whatever runs the deploy tool's HTTP health gate carries (compiler-explorer/infra: AdminNodeSecGroup, the admin node's)."
  type        = string
  default     = "compiler-explorer-web-health-checker"
}

variable "create_instance_roles" {
  description = "Create one instance role and profile per environment (compiler-explorer-web-<env>). false: the environments use existing profiles (compiler-explorer/infra: CompilerExplorerRole, CompilerExplorerWindowsRole), named in their own roots."
  type        = bool
  default     = true
}

variable "logs_bucket" {
  description = "The (pre-existing) bucket the ALB writes its access logs to. An ALB logs only to a bucket in its own region: a regional shared root (terraform/shared-<region>) names that region's bucket."
  type        = string
  default     = "compiler-explorer-logs"
}

variable "instance_regions" {
  description = "Every region whose instances use the roles this root creates (IAM is global): the home region and each terraform/envs-<region>. The roles read the version parameters of their own environment in each of these regions, where the instances boot. tests/terraform/test_tf_regions.py keeps this list equal to the roots."
  type        = list(string)
  default     = ["us-east-1", "eu-west-1"]

  validation {
    condition     = length(var.instance_regions) > 0 && alltrue([for r in var.instance_regions : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", r))])
    error_message = "instance_regions must list AWS region names, e.g. us-east-1."
  }
}
