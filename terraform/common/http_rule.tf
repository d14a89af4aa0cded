# One file, symlinked as http_rule.tf by every path environment's root (all but prod, which owns the
# listeners instead of adding rules to them): edit it here.

variable "http_rule" {
  description = "Also route this environment's path on the HTTP (:80) listener (fresh: yes; CE: HTTPS only, as its ALB admits only :443)."
  type        = bool
  default     = true
}
