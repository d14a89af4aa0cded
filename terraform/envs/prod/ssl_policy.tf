# Only prod terminates TLS (it owns the listeners); terraform/envs-<region>/prod symlinks this file.

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (CE: ELBSecurityPolicy-2015-05 until a separate reviewed change)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}
