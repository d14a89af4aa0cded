"""Settings: every knob the tool reads from its environment, read once at the edge into a frozen value.

The CLI builds ``Settings.from_environ(os.environ)`` and hands it down; nothing below the CLI reads
``os.environ``. Tests and the sandbox demo build their own ``Settings`` instead of editing the process
environment.

| variable | meaning | default |
| --- | --- | --- |
| ``BLUEGREEN_ENVS_DIR`` | the environment roots (color files live here) | ``terraform/envs`` |
| ``BLUEGREEN_HEALTH_URL`` | HTTP health-check URL template (see ``bgctl.health``) | unset: skipped |
| ``BLUEGREEN_POLL_INTERVAL`` | seconds between health polls | 2 |
| ``BLUEGREEN_HEALTH_TIMEOUT`` | seconds deploy waits for the new color (``--health-timeout`` wins) | 600 |
| ``BLUEGREEN_VERIFY_TIMEOUT`` | seconds post-switch verification may take | 60 |
| ``BLUEGREEN_TERRAFORM`` | the Terraform binary | what ``scripts/terraform-bin`` picks |
| ``BLUEGREEN_TF_PLUGIN_DIR`` | a ``-plugin-dir`` for ``terraform init`` | unset |
| ``BLUEGREEN_PREVIEW_URL`` | the load balancer's URL for smoke tests (see ``bgctl.smoke``) | unset: skipped |
| ``BLUEGREEN_PREVIEW_URLS`` | per region, ``R1=URL1,R2=URL2``: a region's own load balancer | unset |
| ``AWS_ENDPOINT_URL`` | AWS endpoint; loopback = the sandbox | unset: AWS |

The usual AWS variables (``AWS_PROFILE``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, keys) are read here too
and handed to the one boto3 session the CLI makes (``bgctl.aws.session_for``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bgctl.envspec import ENVS_DIR
from bgctl.errors import UsageError

VARIABLES = (
    "BLUEGREEN_ENVS_DIR",
    "BLUEGREEN_HEALTH_URL",
    "BLUEGREEN_POLL_INTERVAL",
    "BLUEGREEN_HEALTH_TIMEOUT",
    "BLUEGREEN_VERIFY_TIMEOUT",
    "BLUEGREEN_TERRAFORM",
    "BLUEGREEN_TF_PLUGIN_DIR",
    "BLUEGREEN_PREVIEW_URL",
    "BLUEGREEN_PREVIEW_URLS",
)


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 (or ::1)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{name}={text!r} is not a number of seconds") from None
    if value <= 0:
        raise UsageError(f"{name}={text!r} must be more than 0 seconds")
    return value


def _preview_urls(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``BLUEGREEN_PREVIEW_URLS=us-east-1=http://a,eu-west-1=http://b`` -> ((region, url), ...)."""
    text = environ.get("BLUEGREEN_PREVIEW_URLS") or ""
    pairs: list[tuple[str, str]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        region, _, url = item.partition("=")
        region, url = region.strip(), url.strip()
        if not region or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise UsageError(
                f"BLUEGREEN_PREVIEW_URLS: {item!r} is not REGION=URL "
                "(e.g. us-east-1=https://use1.example.org,eu-west-1=https://euw1.example.org)"
            )
        if region in dict(pairs):
            raise UsageError(f"BLUEGREEN_PREVIEW_URLS names {region} twice")
        pairs.append((region, url))
    return tuple(pairs)


@dataclass(frozen=True)
class Settings:
    envs_dir: Path = ENVS_DIR
    health_url: str | None = None
    preview_url: str | None = None  # the load balancer's URL for smoke tests (bgctl.smoke)
    # Per region, each region's own load balancer (BLUEGREEN_PREVIEW_URLS): what ``preview_url_in`` reads.
    preview_urls: tuple[tuple[str, str], ...] = ()
    endpoint_url: str | None = None
    poll_interval: float = 2.0
    health_timeout: float = 600.0
    verify_timeout: float = 60.0
    terraform_binary: str | None = None
    tf_plugin_dir: str | None = None
    region: str | None = None
    profile: str | None = None
    # Explicit keys (the sandbox's test keys); None: botocore's own credential chain decides.
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read every setting once; a malformed value is a usage error (before any AWS call)."""
        return cls(
            envs_dir=Path(environ.get("BLUEGREEN_ENVS_DIR") or ENVS_DIR),
            health_url=environ.get("BLUEGREEN_HEALTH_URL") or None,
            preview_url=environ.get("BLUEGREEN_PREVIEW_URL") or None,
            preview_urls=_preview_urls(environ),
            endpoint_url=environ.get("AWS_ENDPOINT_URL") or None,
            poll_interval=_seconds(environ, "BLUEGREEN_POLL_INTERVAL", 2.0),
            health_timeout=_seconds(environ, "BLUEGREEN_HEALTH_TIMEOUT", 600.0),
            verify_timeout=_seconds(environ, "BLUEGREEN_VERIFY_TIMEOUT", 60.0),
            terraform_binary=environ.get("BLUEGREEN_TERRAFORM") or None,
            tf_plugin_dir=environ.get("BLUEGREEN_TF_PLUGIN_DIR") or None,
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
            profile=environ.get("AWS_PROFILE") or None,
            access_key_id=environ.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=environ.get("AWS_SESSION_TOKEN") or None,
        )

    def preview_url_in(self, region: str | None) -> str | None:
        """The load balancer a region's smoke tests go through: its own (``BLUEGREEN_PREVIEW_URLS``),
        else ``BLUEGREEN_PREVIEW_URL``."""
        return dict(self.preview_urls).get(region or "", self.preview_url)

    @property
    def local_endpoint(self) -> bool:
        """The AWS endpoint is on this machine (the sandbox): only loopback may then be contacted."""
        return bool(self.endpoint_url) and is_loopback(urlsplit(self.endpoint_url or "").hostname)

    def aws_environ(self) -> dict[str, str]:
        """The AWS variables a child process (Terraform) needs to reach the same account/endpoint."""
        pairs = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_PROFILE": self.profile,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }
        return {k: v for k, v in pairs.items() if v}
