variable "active_color" {
  description = "The color that receives traffic. Set in active_color.auto.tfvars.json, the file a switch rewrites."
  type        = string

  validation {
    condition     = contains(["blue", "green"], var.active_color)
    error_message = "active_color must be \"blue\" or \"green\"."
  }
}
