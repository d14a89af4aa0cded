# Inputs of the shared_lookups module: the names under which the shared pieces are found. The
# defaults are the names terraform/shared creates on a fresh account (and the pre-existing VPC's
# tags); the roots pass the names of the account they describe from their own variables (see
# terraform/README.md, "Two accounts"), so the defaults apply where no adopt.auto.tfvars.json is.

variable "lookup_listeners" {
  description = "Look up the HTTP (:80) and HTTPS (:443) listeners of the shared ALB. true in the path environments (they add rules to them); false in prod, which creates the listeners itself and must not read them back."
  type        = bool
}

variable "alb_name" {
  description = "Name of the shared Application Load Balancer (created by terraform/shared)."
  type        = string
  default     = "compiler-explorer"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,31}$", var.alb_name))
    error_message = "alb_name must be 1-32 letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "vpc_name" {
  description = "Value of the Name tag of the (pre-existing) VPC."
  type        = string
  default     = "CompilerExplorer"
}

variable "subnet_tier" {
  description = "Value of the Tier tag of the VPC subnets the instances launch into."
  type        = string
  default     = "private"
}

variable "subnet_names" {
  description = "Name tags of the subnets the instances launch into (compiler-explorer/infra: CompilerExplorer1a ... 1f, its five public subnets). Empty: the subnets tagged Tier = subnet_tier."
  type        = list(string)
  default     = []
}

variable "security_group_name" {
  description = "Name of the instances' security group in that VPC (created by terraform/shared)."
  type        = string
  default     = "compiler-explorer-web"
}

variable "instance_profile_name" {
  description = "Name of the instances' IAM instance profile (created by terraform/shared). Passed through to the output unchanged: no lookup, so plans need no IAM read permission."
  type        = string
  default     = "compiler-explorer-web"
}
