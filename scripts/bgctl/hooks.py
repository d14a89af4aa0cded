"""Release hooks: the side effects a release needs besides instances and traffic, per environment.

Declared in each root (module input ``release_hooks``, published in the wiring), so the tool never
guesses them; off unless declared (the sandbox declares none). Each hook has a kind, a phase and
string parameters:

- ``pre-switch`` hooks run after the new color passed the health gate and before traffic moves (static
  files must be on the CDN before a page that references them is served);
- ``post-switch`` hooks run once traffic moved and was verified.

They run as steps of the operation's plan, under its lock and fencing, after the journal recorded the
operation, so ``recover`` re-runs what a dead process left (every kind is idempotent: a second run
writes the same values). A failing pre-switch hook undoes the deploy like a failing health gate; a
failing post-switch hook never moves traffic back: it is reported, recorded in history, and
``recover`` is not needed.

Kinds (parameters in brackets):

- ``deploy_log`` [``table``]: one item in a DynamoDB table: build, time, environment, color.
- ``cdn_static`` [``bucket``, ``prefix``?]: the build's static assets (``<N>.static.tar.xz`` beside the
  build, or ``<version>.static.tar.xz``) unpacked into the CDN bucket, long-cached; objects already
  there with the same content are skipped.
- ``http_post`` [``url``, ``body``?, ``token_parameter``?]: a POST (Sentry deploy marker, "now live"
  notification, router cache clear); URL and body are templates of ``{env}``, ``{version}``,
  ``{color}``; an optional bearer token comes from an SSM SecureString.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bgctl.aws import Clients, aws_errors, paginate
from bgctl.errors import BlueGreenError
from bgctl.hookspec import CACHE_CONTROL, HookSpec, Release


class HookError(BlueGreenError):
    """A release hook failed."""


Poster = Callable[[str, Mapping[str, str], bytes], int]


def post(url: str, headers: Mapping[str, str], body: bytes) -> int:
    """POST with the standard library (https only outside loopback), returning the status."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 (scheme from the wiring)
            return int(reply.status)
    except urllib.error.HTTPError as exc:  # an answer, just not a 2xx: the caller judges it
        return int(exc.code)


@dataclass
class HookRunner:
    clients: Clients
    poster: Poster = post
    ran: list[str] = field(default_factory=list)

    def run(self, hook: HookSpec, release: Release) -> str:
        """Run one hook; return a one-line result; HookError naming the hook when it fails."""
        action = {
            "deploy_log": self._deploy_log,
            "cdn_static": self._cdn_static,
            "http_post": self._http_post,
        }
        try:
            result = action[hook.kind](hook, release)
        except HookError:
            raise
        except BlueGreenError as exc:
            raise HookError(f"release hook {hook.name} failed: {exc.message}", hint=exc.hint) from exc
        except (OSError, ValueError, tarfile.TarError) as exc:
            raise HookError(f"release hook {hook.name} failed: {exc}") from exc
        self.ran.append(hook.name)
        return f"{hook.name}: {result}"

    # -- kinds ----------------------------------------------------------------------------------------
    def _deploy_log(self, hook: HookSpec, release: Release) -> str:
        table = hook.param("table")
        item = {
            "buildId": {"S": build_key_hint(release)},
            "timestamp": {"S": release.stamp},  # the operation's, so a re-run writes the same item
            "env": {"S": release.env},
            "version": {"S": release.version},
            "color": {"S": release.color},
        }
        with aws_errors(f"dynamodb:PutItem {table}"):
            self.clients.dynamodb.put_item(TableName=table, Item=item)
        return f"logged {release.version} in {table}"

    def _cdn_static(self, hook: HookSpec, release: Release) -> str:
        bucket, prefix = hook.param("bucket"), hook.param("prefix", "")
        key = self._static_archive(release)
        with aws_errors(f"s3:GetObject {release.builds_bucket}/{key}"):
            data = self.clients.s3.get_object(Bucket=release.builds_bucket, Key=key)["Body"].read()
        existing = self._etags(bucket, prefix)
        uploaded = skipped = 0
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            for member in archive.getmembers():
                if not member.isfile():
                    continue
                name = member.name.lstrip("./")
                if ".." in name.split("/"):
                    raise HookError(f"release hook {hook.name}: unsafe path {member.name!r} in {key}")
                handle = archive.extractfile(member)
                content = handle.read() if handle else b""
                target = f"{prefix}{name}"
                if existing.get(target) == hashlib.md5(content, usedforsecurity=False).hexdigest():
                    skipped += 1
                    continue
                with aws_errors(f"s3:PutObject {bucket}/{target}"):
                    self.clients.s3.put_object(
                        Bucket=bucket, Key=target, Body=content, CacheControl=CACHE_CONTROL
                    )
                uploaded += 1
        return f"{uploaded} static file(s) to s3://{bucket}/{prefix} ({skipped} already there)"

    def _static_archive(self, release: Release) -> str:
        with aws_errors(f"s3:ListObjectsV2 {release.builds_bucket}/{release.builds_prefix}"):
            objects = paginate(
                self.clients.s3,
                "list_objects_v2",
                "Contents",
                Bucket=release.builds_bucket,
                Prefix=release.builds_prefix,
            )
        names = (f"{release.number}.static.tar.xz", f"{release.version}.static.tar.xz")
        for obj in objects:
            if obj["Key"].rsplit("/", 1)[-1] in names:
                return str(obj["Key"])
        raise HookError(
            f"no static archive ({' or '.join(names)}) for {release.version} under {release.builds_prefix}"
        )

    def _etags(self, bucket: str, prefix: str) -> dict[str, str]:
        with aws_errors(f"s3:ListObjectsV2 {bucket}/{prefix}"):
            objects = paginate(self.clients.s3, "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix)
        return {str(o["Key"]): str(o.get("ETag", "")).strip('"') for o in objects}

    def _http_post(self, hook: HookSpec, release: Release) -> str:
        url = release.expand(hook.param("url"))
        body = release.expand(
            hook.param("body", json.dumps({"environment": "{env}", "version": "{version}"}))
        )
        headers = {"Content-Type": "application/json"}
        token_name = dict(hook.params).get("token_parameter")
        if token_name:
            with aws_errors(f"ssm:GetParameter {token_name}"):
                token = self.clients.ssm.get_parameter(Name=token_name, WithDecryption=True)["Parameter"][
                    "Value"
                ]
            headers["Authorization"] = f"Bearer {token}"
        status = self.poster(url, headers, body.encode())
        if not 200 <= status < 300:
            raise HookError(f"release hook {hook.name}: POST {url} answered HTTP {status}")
        return f"POST {url}: HTTP {status}"


def build_key_hint(release: Release) -> str:
    """What the deployment log records as the build: ``<prefix><version>`` (the key's stem)."""
    return f"{release.builds_prefix}{release.version}"
