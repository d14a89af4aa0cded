# One file, symlinked as canary.tf by every environment root (terraform/envs*/<env>): edit it here.
# The canary weight: written next to active_color in active_color.auto.tfvars.json by the deploy tool
# during a canary step (absent, so 0, otherwise) and passed to module.blue_green only.

variable "canary_weight" {
  description = "Percent of requests (0-99) sent to the color that is not active_color: a canary step. Set next to active_color in active_color.auto.tfvars.json by the deploy tool; absent (0) outside a canary."
  type        = number
  default     = 0

  validation {
    condition     = var.canary_weight >= 0 && var.canary_weight <= 99 && var.canary_weight == floor(var.canary_weight)
    error_message = "canary_weight must be an integer from 0 to 99 (100 is a switch: change active_color)."
  }
}
