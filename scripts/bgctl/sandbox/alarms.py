"""The per-color CloudWatch alarms and the dashboard the blue_green module creates, built in the sandbox.

terraform/modules/blue_green/canary.tf is the source: three alarms per color named
``<env>-<color>-<kind>`` (target 5xx rate, unhealthy hosts, p99 target response time) with the module's
default thresholds, published in the wiring's ``canary.alarms``, and one dashboard
``bluegreen-<env>``. The deploy tool never builds these names itself; only the sandbox, imitating
Terraform, does. A test fires an alarm with ``set_alarm_state`` (``fire``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bgctl import COLORS
from bgctl.sandbox.clients import fake_session
from bgctl.sandbox.server import REGION

# The module's defaults (canary_variables.tf).
STICKINESS_SECONDS = 3600
FIVE_XX_RATE_PERCENT = 5.0
UNHEALTHY_HOSTS = 0.0
P99_LATENCY_SECONDS = 10.0
PERIOD = 60
EVALUATION_PERIODS = 3
ALARM_KINDS = ("target-5xx-rate", "unhealthy-hosts", "p99-latency")
NAMESPACE = "AWS/ApplicationELB"


def alarm_names(env: str) -> dict[str, tuple[str, ...]]:
    """Per color, the alarm names the module publishes in the wiring, in the module's order."""
    return {color: tuple(f"{env}-{color}-{kind}" for kind in ALARM_KINDS) for color in COLORS}


def cloudwatch_client(endpoint_url: str, region: str = REGION) -> Any:
    """A CloudWatch client of ``region`` for the sandbox (fake keys, loopback endpoint)."""
    return fake_session(region).client("cloudwatch", endpoint_url=endpoint_url)


def _suffix(arn: str, marker: str) -> str:
    return arn.split(marker, 1)[-1]


def _alarm_requests(env: str, tg_arns: Mapping[str, str], lb_dimension: str) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = []
    for color, names in alarm_names(env).items():
        dims = [
            {"Name": "TargetGroup", "Value": "targetgroup/" + _suffix(tg_arns[color], ":targetgroup/")},
            {"Name": "LoadBalancer", "Value": lb_dimension},
        ]
        common: dict[str, Any] = {
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": EVALUATION_PERIODS,
            "TreatMissingData": "notBreaching",
            "Tags": [{"Key": "Environment", "Value": env}, {"Key": "Color", "Value": color}],
        }

        def stat(metric: str, dims: list[dict[str, str]] = dims) -> dict[str, Any]:
            return {
                "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dims},
                "Period": PERIOD,
                "Stat": "Sum",
            }

        rate, unhealthy, latency = names
        requests.append(
            {
                **common,
                "AlarmName": rate,
                "AlarmDescription": f"{env} {color}: target 5xx rate (watched by canary bakes)",
                "Threshold": FIVE_XX_RATE_PERCENT,
                "Metrics": [
                    {"Id": "errors", "MetricStat": stat("HTTPCode_Target_5XX_Count"), "ReturnData": False},
                    {"Id": "requests", "MetricStat": stat("RequestCount"), "ReturnData": False},
                    {
                        "Id": "rate",
                        "Expression": "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)",
                        "Label": f"5xx percent of {color} requests",
                        "ReturnData": True,
                    },
                ],
            }
        )
        single = {"Namespace": NAMESPACE, "Dimensions": dims, "Period": PERIOD}
        requests.append(
            {
                **common,
                **single,
                "AlarmName": unhealthy,
                "AlarmDescription": f"{env} {color}: unhealthy targets (watched by canary bakes)",
                "MetricName": "UnHealthyHostCount",
                "Statistic": "Maximum",
                "Threshold": UNHEALTHY_HOSTS,
            }
        )
        requests.append(
            {
                **common,
                **single,
                "AlarmName": latency,
                "AlarmDescription": f"{env} {color}: p99 target response time (watched by canary bakes)",
                "MetricName": "TargetResponseTime",
                "ExtendedStatistic": "p99",
                "Threshold": P99_LATENCY_SECONDS,
            }
        )
    return requests


def _dashboard(env: str, tg_arns: Mapping[str, str], lb_dimension: str) -> str:
    graphs = (
        ("Requests", "RequestCount", "Sum"),
        ("Target 5xx", "HTTPCode_Target_5XX_Count", "Sum"),
        ("p99 target response time (s)", "TargetResponseTime", "p99"),
        ("Healthy hosts", "HealthyHostCount", "Minimum"),
    )
    widgets: list[dict[str, Any]] = [
        {
            "type": "metric",
            "x": (i % 2) * 12,
            "y": (i // 2) * 6,
            "width": 12,
            "height": 6,
            "properties": {
                "title": f"{env}: {title}",
                "view": "timeSeries",
                "region": "us-east-1",
                "stat": stat,
                "period": PERIOD,
                "metrics": [
                    [
                        NAMESPACE,
                        metric,
                        "TargetGroup",
                        "targetgroup/" + _suffix(tg_arns[c], ":targetgroup/"),
                        "LoadBalancer",
                        lb_dimension,
                        {"label": c},
                    ]
                    for c in COLORS
                ],
            },
        }
        for i, (title, metric, stat) in enumerate(graphs)
    ]
    return json.dumps({"widgets": widgets})


def build_alarms(
    endpoint_url: str,
    envs: Mapping[str, Mapping[str, str]],
    load_balancer_arn: str,
    parallel: int = 8,
    region: str = REGION,
) -> None:
    """Create every environment's alarms and dashboard in ``region`` (each regional root's module
    creates its own); ``envs``: env -> {color: target group ARN}."""
    client = cloudwatch_client(endpoint_url, region)
    lb_dimension = _suffix(load_balancer_arn, ":loadbalancer/")
    requests = [r for env, tgs in envs.items() for r in _alarm_requests(env, tgs, lb_dimension)]
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda r: client.put_metric_alarm(**r), requests))
        list(
            pool.map(
                lambda env: client.put_dashboard(
                    DashboardName=f"bluegreen-{env}", DashboardBody=_dashboard(env, envs[env], lb_dimension)
                ),
                envs,
            )
        )


def fire(endpoint_url: str, name: str, reason: str = "fired by a test", region: str = REGION) -> None:
    """Put alarm ``name`` (of ``region``) in ALARM (what a breaching metric would do)."""
    cloudwatch_client(endpoint_url, region).set_alarm_state(
        AlarmName=name, StateValue="ALARM", StateReason=reason
    )
