"""The sandbox override of a Terraform root, and the check that Terraform talks to the AWS the tool does.

The Terraform sandbox (``bgctl.sandbox.tfsandbox``) copies ``terraform/`` and writes one override file
per root into the copy, never into the committed tree::

    bluegreen_sandbox_override.tf.json
      terraform.backend.local              the state stays in the copy (no S3 backend, no lock file)
      provider.aws.endpoints.<service>     every service the roots use -> the moto server on 127.0.0.1
      provider.aws.access_key/secret_key   the sandbox's fake keys (never the caller's credentials)
      provider.aws.skip_*                  no credential validation, no instance metadata, any region

Terraform merges ``*_override.tf.json`` into the root (the override's backend replaces the S3 one; its
provider arguments replace the root's, which keeps ``region``, ``allowed_account_ids`` and
``default_tags``).

``endpoint_problem(root_dir, environ)`` decides whether Terraform may run in ``root_dir`` with the
process environment ``environ`` (what the tool's own AWS clients use):

* ``AWS_ENDPOINT_URL`` on loopback (the sandbox): only when the root has an override whose every
  endpoint is that same URL, whose backend is local and whose keys are the fake ones, and only when the
  environment carries the fake keys and no profile or role (never a sandbox with real credentials);
* otherwise (real AWS): only when the root has no override (a sandbox root never runs against the AWS
  the tool talks to, and the tool never switches real traffic through a root aimed at a sandbox).

It returns None when Terraform may run, else the one-line reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bgctl.sandbox.server import FAKE_AWS_ENV
from bgctl.settings import is_loopback

OVERRIDE_FILE = "bluegreen_sandbox_override.tf.json"
# Every AWS service the roots (or the provider itself, for the account check) call.
SANDBOX_SERVICES = (
    "acm",
    "applicationautoscaling",
    "autoscaling",
    "cloudwatch",
    "ec2",
    "elb",
    "elbv2",
    "iam",
    "s3",
    "sqs",
    "ssm",
    "sts",
)
FAKE_ACCESS_KEY = FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"]
FAKE_SECRET_KEY = FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"]
# Variables that make boto3 or the provider use credentials other than the environment's keys.
CREDENTIAL_SOURCES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def normalize_endpoint(url: str) -> str:
    """``scheme://host:port`` in lower case, without a trailing slash or path: for comparisons."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def render_override(endpoint_url: str) -> dict[str, Any]:
    """The override document for a root that must talk only to the sandbox at ``endpoint_url``."""
    host = urlsplit(endpoint_url).hostname
    if not is_loopback(host):
        raise ValueError(f"a sandbox override must point at 127.0.0.0/8, got {endpoint_url!r}")
    url = normalize_endpoint(endpoint_url)
    return {
        "//": f"Written by bluegreen for the sandbox at {url}: never commit (bgctl.tfoverride).",
        "terraform": {"backend": {"local": {"path": "terraform.tfstate"}}},
        "provider": {
            "aws": {
                "access_key": FAKE_ACCESS_KEY,
                "secret_key": FAKE_SECRET_KEY,
                "skip_credentials_validation": True,
                "skip_metadata_api_check": True,
                "skip_region_validation": True,
                "s3_use_path_style": True,
                "endpoints": [dict.fromkeys(SANDBOX_SERVICES, url)],
            }
        },
    }


def write_override(root_dir: Path, endpoint_url: str) -> Path:
    path = Path(root_dir) / OVERRIDE_FILE
    path.write_text(json.dumps(render_override(endpoint_url), indent=2) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class SandboxOverride:
    """What a root's override file says (parsed leniently: the check names what is missing)."""

    path: Path
    endpoints: dict[str, str]
    backends: tuple[str, ...]
    access_key: str | None
    secret_key: str | None


def _one(value: Any) -> dict[str, Any]:
    """A JSON-syntax block: an object, or a list holding exactly one object."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, dict) else {}


def read_override(root_dir: Path) -> SandboxOverride | None:
    """The root's sandbox override, or None when it has none. Raises ValueError when unreadable."""
    path = Path(root_dir) / OVERRIDE_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(doc, dict):
        doc = {}  # the check below then names every missing endpoint
    backend = _one(_one(doc.get("terraform")).get("backend"))
    aws = _one(_one(doc.get("provider")).get("aws"))
    endpoints = {str(k): str(v) for k, v in _one(aws.get("endpoints")).items()}
    access_key, secret_key = aws.get("access_key"), aws.get("secret_key")
    return SandboxOverride(
        path=path,
        endpoints=endpoints,
        backends=tuple(str(k) for k in backend),
        access_key=str(access_key) if access_key is not None else None,
        secret_key=str(secret_key) if secret_key is not None else None,
    )


def _local_endpoint(environ: Mapping[str, str]) -> str | None:
    endpoint = environ.get("AWS_ENDPOINT_URL", "")
    return endpoint if endpoint and is_loopback(urlsplit(endpoint).hostname) else None


def _credential_problem(environ: Mapping[str, str]) -> str | None:
    sources = [name for name in CREDENTIAL_SOURCES if environ.get(name)]
    if sources:
        return f"{', '.join(sources)} is set: a sandbox never runs with a profile or role"
    if environ.get("AWS_ACCESS_KEY_ID") != FAKE_ACCESS_KEY or environ.get("AWS_SECRET_ACCESS_KEY") != (
        FAKE_SECRET_KEY
    ):
        return "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not the sandbox's fake keys"
    return None


def _override_problem(override: SandboxOverride, endpoint: str) -> str | None:
    want = normalize_endpoint(endpoint)
    missing = [s for s in SANDBOX_SERVICES if s not in override.endpoints]
    if missing:
        return f"{override.path.name} has no endpoint for {', '.join(missing)}"
    elsewhere = sorted(s for s, url in override.endpoints.items() if normalize_endpoint(url) != want)
    if elsewhere:
        shown = ", ".join(f"{s}={override.endpoints[s]}" for s in elsewhere[:3])
        return f"{override.path.name} points {shown} elsewhere than AWS_ENDPOINT_URL ({endpoint})"
    if override.backends != ("local",):
        return f"{override.path.name} must configure the local backend, not {override.backends or 'none'}"
    if (override.access_key, override.secret_key) != (FAKE_ACCESS_KEY, FAKE_SECRET_KEY):
        return f"{override.path.name} must give the provider the sandbox's fake keys"
    return None


def endpoint_problem(root_dir: Path, environ: Mapping[str, str]) -> str | None:
    """None when Terraform may run in ``root_dir`` under ``environ``, else the one-line reason."""
    endpoint = _local_endpoint(environ)
    try:
        override = read_override(root_dir)
    except ValueError as exc:
        return str(exc)
    if endpoint is None:
        if override is None:
            return None
        url = next(iter(override.endpoints.values()), "?")
        where = (
            f"AWS_ENDPOINT_URL is {environ['AWS_ENDPOINT_URL']!r}"
            if environ.get("AWS_ENDPOINT_URL")
            else ("AWS_ENDPOINT_URL is not set (real AWS)")
        )
        return f"{root_dir} is configured for the sandbox at {url} ({OVERRIDE_FILE}) but {where}"
    if override is None:
        return (
            f"AWS_ENDPOINT_URL points at a local endpoint ({endpoint}) but {root_dir} has no sandbox "
            f"override ({OVERRIDE_FILE}): its AWS provider and S3 backend are not configured for it"
        )
    problem = _override_problem(override, endpoint) or _credential_problem(environ)
    if problem:
        return f"refusing Terraform in {root_dir} against the local endpoint {endpoint}: {problem}"
    return None


def targets_sandbox(root_dir: Path, environ: Mapping[str, str]) -> bool:
    """True when ``root_dir`` is a sandbox root Terraform may drive under ``environ`` (the default
    switch driver there is then Terraform, not the API)."""
    return _local_endpoint(environ) is not None and endpoint_problem(root_dir, environ) is None
