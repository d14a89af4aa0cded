"""The sandbox in several regions: one moto server answers for every region, so another region's
topology is the same build made with clients of that region.

``build_region(sandbox, "eu-west-1")`` builds, from the roots in ``terraform/envs-eu-west-1`` (parsed,
as the home region's are), that region's network, load balancer with its listeners, and per
environment the target groups, ASGs, routing and SSM parameters, all in eu-west-1
(``topology.build_regional_topology``). The builds bucket is S3's, global, so it is not built twice.
Then ``Sandbox.add_region``: the instances' health server learns the region's instances too, so the
health gate covers them, and the region's load balancer gets a front of its own
(``sandbox.front_in("eu-west-1")``), evaluating that region's listeners and rules; ``environ()``
publishes each region's front in ``BLUEGREEN_PREVIEW_URLS``, so a deploy's smoke tests in a region go
through that region's load balancer. Failures are injected per instance (``fail_instance``), because
``fail_color`` names an environment and a color, which exist in each region.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bgctl.envspec import ENVS_DIR, load_env_specs
from bgctl.regions import regional_dir
from bgctl.sandbox.clients import SandboxClients, make_clients
from bgctl.sandbox.topology import EnvResources, build_regional_topology

if TYPE_CHECKING:
    from bgctl.sandbox import Sandbox


def region_clients(endpoint_url: str, region: str) -> SandboxClients:
    """Sandbox clients (fake keys, loopback only) of ``region``."""
    return make_clients(endpoint_url, region)


def build_region(
    sandbox: Sandbox,
    region: str,
    *,
    envs_dir: Path = ENVS_DIR,
    only: tuple[str, ...] | None = None,
) -> dict[str, EnvResources]:
    """Build ``region``'s environments (those with a root in ``terraform/envs-<region>``) in the
    sandbox's moto server; the health server then answers for their instances too, and the region's
    load balancer gets its own front."""
    specs = load_env_specs(regional_dir(envs_dir, region))
    if only is not None:
        specs = {k: v for k, v in specs.items() if k in only}
    built = build_regional_topology(
        region_clients(sandbox.endpoint_url, region),
        region,
        specs,
        health_url_template=sandbox.health_url_template,
        builds_bucket=sandbox.builds_bucket,
    )
    sandbox.add_region(region)
    return built
