"""``python -m bgctl.sandbox.serve``: an empty sandbox (moto with the fixes, the health server) in its
own process, for the Terraform-built sandbox.

Why a process of its own: moto's backends are process-global (one sandbox per process), and the
Terraform roots check ``allowed_account_ids``, so this moto answers as account ``--account`` (moto reads
``MOTO_ACCOUNT_ID`` on every request) while a test session's in-process sandbox keeps its default.

It prints one JSON line when it serves, ``{"endpoint_url", "health_url_template", "control_url",
"pid"}``, then serves until SIGTERM/SIGINT or until its standard input closes (the parent went away:
an orphaned sandbox never outlives the process that started it). With ``--regions``, its health server
also answers for the instances of those regions (the Terraform sandbox in several regions).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence

DEFAULT_ACCOUNT = "052730242331"  # the roots' allowed_account_ids


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bgctl.sandbox.serve", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="AWS account id moto answers as")
    parser.add_argument("--hang-seconds", type=float, default=5.0, help="health server 'hang' failure mode")
    parser.add_argument(
        "--regions", default="", help="extra regions (comma-separated) the health server knows"
    )
    args = parser.parse_args(argv)
    if not (args.account.isdigit() and len(args.account) == 12):
        parser.error(f"--account must be 12 digits, got {args.account!r}")
    os.environ["MOTO_ACCOUNT_ID"] = args.account

    from bgctl.sandbox import Sandbox

    done = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or exited
        done.set()

    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    sandbox = Sandbox({}, hang_seconds=args.hang_seconds)
    sandbox.start(build=False)
    try:
        if args.regions:
            from bgctl.regions import parse_regions

            for region in parse_regions(args.regions):
                sandbox.add_region(region)
        ready = {
            "endpoint_url": sandbox.endpoint_url,
            "health_url_template": sandbox.health_url_template,
            "control_url": sandbox.health.control_url,
            "pid": os.getpid(),
        }
        print(json.dumps(ready), flush=True)
        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
        while not done.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
