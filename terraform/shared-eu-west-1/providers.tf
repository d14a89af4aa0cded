provider "aws" {
  region              = "eu-west-1"
  allowed_account_ids = ["052730242331"]

  default_tags {
    tags = {
      Project   = "bluegreen"
      Site      = "CompilerExplorer"
      ManagedBy = "terraform"
      Root      = "terraform/shared-eu-west-1"
      Region    = "eu-west-1"
    }
  }
}
