"""The embedded default: the whole topology of all environments in a moto server on 127.0.0.1.

``Sandbox`` starts a moto server and the loopback health server, builds the topology from
``terraform/envs`` (or given specs), and hands out boto3 clients, the health URL template, failure
controls and an env file for other shells. Nothing here imports moto until a server is started.

    with Sandbox() as sb:
        sb.env_file()                       # .sandbox/env: `source` it in another shell
        sb.clients.autoscaling.describe_auto_scaling_groups()
        sb.fail_color("beta", "green")      # every beta-green instance answers 500
        sb.front.https_url                  # the ALB's data plane: requests routed as moto's rules say

Another region (``bgctl.sandbox.regions.build_region``) is built in the same moto server; ``add_region``
then makes the health server answer for its instances and starts that region's own front
(``sb.front_in("eu-west-1")``), which ``environ()`` publishes in ``BLUEGREEN_PREVIEW_URLS``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bgctl import REPO_ROOT
from bgctl.sandbox import moto_fixes
from bgctl.sandbox.clients import SandboxClients, make_clients
from bgctl.sandbox.front import AlbFront
from bgctl.sandbox.health import HealthServer, InstanceInfo, aws_directory, health_url
from bgctl.sandbox.network import LOAD_BALANCER_NAME
from bgctl.sandbox.samplebuilds import BUILDS_BUCKET
from bgctl.sandbox.server import REGION, MotoServer, apply_environ, sandbox_environ
from bgctl.sandbox.topology import EnvResources, build_synthetic, build_topology

if TYPE_CHECKING:
    from bgctl.envspec import EnvSpec

SANDBOX_DIR = REPO_ROOT / ".sandbox"

__all__ = [
    "AlbFront",
    "HealthServer",
    "InstanceInfo",
    "Sandbox",
    "SandboxClients",
    "health_url",
    "load_specs",
]


def load_specs() -> dict[str, EnvSpec]:
    """The environments of ``terraform/envs`` (parsed there; the sandbox keeps no copy of them), as the
    roots describe a fresh account: the sandbox is one (terraform/README.md, "Two accounts")."""
    from bgctl.envspec import load_env_specs

    return load_env_specs(fresh_account=True)


class Sandbox:
    """A moto server plus the instances' health server, with the blue-green topology built in it."""

    def __init__(
        self,
        specs: Mapping[str, EnvSpec] | None = None,
        *,
        moto_port: int = 0,
        health_port: int = 0,
        builds_bucket: str = BUILDS_BUCKET,
        hang_seconds: float = 5.0,
        front: bool = True,
        front_ports: tuple[int, int] = (0, 0),
    ) -> None:
        """``front``: also serve the load balancer's data plane (``AlbFront``) on two loopback ports
        (``front_ports``: HTTP, HTTPS; 0 picks free ones)."""
        self._specs = dict(specs) if specs is not None else None
        self._want_front = front
        self._front_ports = front_ports
        self._front: AlbFront | None = None
        self._region_fronts: dict[str, AlbFront] = {}  # other regions' (add_region)
        self._regions: list[str] = []
        self._moto = MotoServer(port=moto_port)
        self._health_port = health_port
        self._hang_seconds = hang_seconds
        self._health: HealthServer | None = None
        self._clients: SandboxClients | None = None
        self.builds_bucket = builds_bucket
        self.resources: dict[str, EnvResources] = {}
        self.generation = 0  # bumped by every build and reset: lets callers tell a fresh topology

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, *, build: bool = True) -> Sandbox:
        """Start both servers (idempotent) and, unless ``build`` is False, build the topology."""
        moto_fixes.install()
        endpoint = self._moto.start()
        if self._clients is None:
            self._clients = make_clients(endpoint)
        if self._health is None:
            self._health = HealthServer(
                aws_directory(self._clients), port=self._health_port, hang_seconds=self._hang_seconds
            )
            self._health.start()
            moto_fixes.set_target_health_hook(self._health.target_state)
            moto_fixes.set_terminate_listener(self._health.forget)
        if self._want_front and self._front is None:
            self._front = self._make_front()
        if build:
            self.build()
        return self

    def _make_front(
        self, ports: Mapping[str, int] | None = None, seed: int | None = None, region: str = REGION
    ) -> AlbFront:
        from bgctl.sandbox.albsource import ApiSource, in_process_source

        source = in_process_source(LOAD_BALANCER_NAME, region) or ApiSource(
            make_clients(self.endpoint_url, region).elbv2, LOAD_BALANCER_NAME
        )
        front = AlbFront(
            source,
            self.health.base_url,
            ports=ports
            if ports is not None
            else {"http": self._front_ports[0], "https": self._front_ports[1]},
            # A hung instance answers 504 (the ALB's timeout) before the health server gives up on it.
            target_timeout=min(4.0, self._hang_seconds / 2),
            seed=seed,
        )
        return front.start()

    def new_front(
        self, *, seed: int | None = None, region: str = REGION, target_timeout: float | None = None
    ) -> AlbFront:
        """Another data plane of the same load balancer (another ALB node, as it were), on free loopback
        ports, started; the caller stops it. ``seed`` makes its weighted choices reproducible (the
        sandbox's own ``front`` is shared by everything, so its draws are not); ``target_timeout``
        replaces the sandbox's (how long it waits for a target before answering 504)."""
        front = self._make_front({"http": 0, "https": 0}, seed, region)
        if target_timeout is not None:
            front.target_timeout = target_timeout
        return front

    # -- other regions -----------------------------------------------------------------------------

    def add_region(self, region: str) -> None:
        """``region``'s topology was built in this moto server: answer for its instances (health
        server) and serve its load balancer on a front of its own (unless ``front=False``)."""
        if region == REGION:
            raise ValueError(f"{region} is the sandbox's home region")
        self.health.add_directory(region, aws_directory(make_clients(self.endpoint_url, region)))
        if region not in self._regions:
            self._regions.append(region)
        if self._want_front and region not in self._region_fronts:
            self._region_fronts[region] = self._make_front({"http": 0, "https": 0}, region=region)

    @property
    def regions(self) -> tuple[str, ...]:
        """The home region, then every region added since the last build or reset."""
        return (REGION, *self._regions)

    def front_in(self, region: str) -> AlbFront:
        """The data plane of ``region``'s load balancer (the home region's is ``front``)."""
        if region == REGION:
            return self.front
        if region not in self._region_fronts:
            raise RuntimeError(f"the sandbox has no load balancer front in {region} (add_region)")
        return self._region_fronts[region]

    def _drop_regions(self) -> None:
        """Forget the other regions (their fronts stop): moto is being emptied or rebuilt."""
        for front in self._region_fronts.values():
            front.stop()
        self._region_fronts.clear()
        self._regions.clear()
        if self._health is not None:
            self._health.drop_directories()

    def build(self, only: Collection[str] | None = None) -> dict[str, EnvResources]:
        """Build the topology for the specs (``terraform/envs`` when none were given) in empty moto;
        ``only`` builds just those environments (a faster sandbox for tests that need one)."""
        if self._specs is None:
            self._specs = load_specs()
        self.generation += 1
        self._drop_regions()
        specs = self._specs if only is None else {k: v for k, v in self._specs.items() if k in only}
        self.resources = build_topology(
            self.clients,
            specs,
            health_url_template=self.health_url_template,
            builds_bucket=self.builds_bucket,
        )
        return self.resources

    def build_synthetic(self, n_envs: int = 90, instances_per_env: int = 40) -> dict[str, EnvResources]:
        """Replace everything with the synthetic benchmark topology."""
        self.reset(rebuild=False)
        self.generation += 1
        self.resources = build_synthetic(
            self.clients,
            n_envs,
            instances_per_env,
            health_url_template=self.health_url_template,
            builds_bucket=self.builds_bucket,
        )
        return self.resources

    def reset(self, *, rebuild: bool = True, only: Collection[str] | None = None) -> None:
        """Empty moto, forget health failures, pinned versions and other regions, and (by default)
        rebuild."""
        self._drop_regions()
        self._moto.reset()
        self.health.reset()
        self.resources = {}
        self.generation += 1
        if rebuild:
            self.build(only)

    def stop(self) -> None:
        self._drop_regions()
        if self._front is not None:
            self._front.stop()
            self._front = None
        if self._health is not None:
            moto_fixes.set_target_health_hook(None)
            moto_fixes.set_terminate_listener(None)
            self._health.stop()
            self._health = None
        self._moto.stop()
        self._clients = None

    def serve_until_interrupted(self) -> None:
        """Block while the servers keep serving, until SIGINT (Ctrl-C) or SIGTERM; then return.

        For ``sandbox up`` in the foreground; call from the main thread. The caller stops the sandbox."""
        import signal
        import threading

        done = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what callers use --------------------------------------------------------------------------

    @property
    def specs(self) -> dict[str, EnvSpec]:
        if self._specs is None:
            self._specs = load_specs()
        return dict(self._specs)

    @property
    def endpoint_url(self) -> str:
        if not self._moto.endpoint_url:
            raise RuntimeError("sandbox is not running")
        return self._moto.endpoint_url

    @property
    def clients(self) -> SandboxClients:
        if self._clients is None:
            raise RuntimeError("sandbox is not running")
        return self._clients

    def new_clients(self) -> SandboxClients:
        """A fresh set of clients (their own connection pools), e.g. for another thread."""
        return make_clients(self.endpoint_url)

    @property
    def health(self) -> HealthServer:
        if self._health is None:
            raise RuntimeError("sandbox is not running")
        return self._health

    @property
    def front(self) -> AlbFront:
        """The load balancer's data plane: ``front.http_url`` (listener :80), ``front.https_url`` (:443),
        both plain HTTP on 127.0.0.1. Started with the sandbox (``Sandbox(front=False)`` does not)."""
        if self._front is None:
            if self._health is None or not self._want_front:
                raise RuntimeError("the sandbox's load balancer front is not running")
            self._front = self._make_front()
        return self._front

    @property
    def health_url_template(self) -> str:
        return self.health.url_template

    def environ(self) -> dict[str, str]:
        """AWS_ENDPOINT_URL, fake credentials, region, BLUEGREEN_HEALTH_URL and (with the front)
        BLUEGREEN_PREVIEW_URL for a child process; with other regions, BLUEGREEN_PREVIEW_URLS too, so a
        region's smoke tests go through that region's front."""
        values = sandbox_environ(self.endpoint_url, self.health_url_template)
        if self._front is not None:  # smoke tests go through the front's HTTPS listener (bgctl.smoke)
            values["BLUEGREEN_PREVIEW_URL"] = self._front.https_url
            if self._region_fronts:
                fronts = {REGION: self._front, **self._region_fronts}
                values["BLUEGREEN_PREVIEW_URLS"] = ",".join(f"{r}={f.https_url}" for r, f in fronts.items())
        return values

    def apply_environ(self, environ: dict[str, str] | None = None) -> None:
        """Point ``environ`` (default: this process's os.environ) at the sandbox."""
        import os

        apply_environ(os.environ if environ is None else environ, self.environ())

    def env_file(self, path: Path | None = None) -> Path:
        """Write ``export`` lines for the sandbox (default ``.sandbox/env``); return the path."""
        target = path or SANDBOX_DIR / "env"
        target.parent.mkdir(parents=True, exist_ok=True)
        values = self.environ()
        values["BLUEGREEN_HEALTH_CONTROL_URL"] = self.health.control_url
        if self._front is not None:
            values["BLUEGREEN_SANDBOX_ALB_HTTP_URL"] = self._front.http_url
            values["BLUEGREEN_SANDBOX_ALB_HTTPS_URL"] = self._front.https_url
        lines = ["# Written by the bluegreen sandbox; valid while it runs. Usage: source .sandbox/env"]
        lines += ["unset AWS_PROFILE AWS_DEFAULT_PROFILE"]
        lines += [f"export {name}='{value}'" for name, value in sorted(values.items())]
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return target

    # -- failure controls --------------------------------------------------------------------------

    def instance_ids(self, env: str, color: str) -> list[str]:
        """Instance ids currently in ``{env}-{color}`` (from the ASG, as the tool would see them)."""
        wiring = self.resources[env].wiring if env in self.resources else None
        name = wiring.asg_names[color] if wiring else f"{env}-{color}"
        groups = self.clients.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return [i["InstanceId"] for g in groups["AutoScalingGroups"] for i in g.get("Instances", [])]

    def health_url(self, instance_id: str) -> str:
        return health_url(self.health_url_template, instance_id)

    def fail_instance(self, instance_id: str, mode: str = "error") -> None:
        self.health.fail_instance(instance_id, mode)

    def fail_color(self, env: str, color: str, mode: str = "error") -> None:
        self.health.fail_color(env, color, mode)

    def heal(self, instance_id: str | None = None) -> None:
        self.health.heal(instance_id)

    def set_target_state(self, instance_id: str, state: str | None, reason: str | None = None) -> None:
        """What describe_target_health reports for a running target ("initial", "unhealthy", ...)."""
        self.health.set_target_state(instance_id, state, reason)
