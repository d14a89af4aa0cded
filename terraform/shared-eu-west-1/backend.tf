terraform {
  backend "s3" {
    bucket       = "compiler-explorer-terraform-state"
    key          = "bluegreen/eu-west-1/shared/terraform.tfstate"
    region       = "us-east-1"
    encrypt      = true
    use_lockfile = true
  }
}
