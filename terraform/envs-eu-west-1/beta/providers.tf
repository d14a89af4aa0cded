provider "aws" {
  region              = "eu-west-1"
  allowed_account_ids = ["052730242331"]

  default_tags {
    tags = {
      Project     = "bluegreen"
      ManagedBy   = "terraform"
      Root        = "terraform/envs-eu-west-1/beta"
      Environment = "beta"
      Region      = "eu-west-1"
    }
  }
}
