provider "aws" {
  region              = "us-east-1"
  allowed_account_ids = ["052730242331"]

  default_tags {
    tags = {
      Project     = "bluegreen"
      Site        = "CompilerExplorer"
      ManagedBy   = "terraform"
      Root        = "terraform/envs/gpu"
      Environment = "gpu"
    }
  }
}
