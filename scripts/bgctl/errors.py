"""The exception hierarchy. The CLI maps each class to an exit code and a one-line message."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class BlueGreenError(Exception):
    """Base class: something failed or was refused. ``hint`` says what to run instead."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(BlueGreenError):
    """Bad input, detected before any AWS call."""

    exit_code = EXIT_USAGE


class WiringError(BlueGreenError):
    """The wiring Terraform publishes is missing or does not describe real resources."""


class AwsError(BlueGreenError):
    """An AWS call failed in a way we do not handle (carries the error code)."""

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class RefusedError(BlueGreenError):
    """A safety gate refused the operation; nothing was changed."""


class HealthGateError(BlueGreenError):
    """Instances did not become healthy before the deadline."""


class LockHeldError(BlueGreenError):
    """Another operation holds the environment lock."""


class PlanGuardError(BlueGreenError):
    """A Terraform plan would change more than the traffic switch."""


class TerraformError(BlueGreenError):
    """Terraform itself failed (init, plan, show or apply)."""


class InterruptedOperation(BlueGreenError):
    """SIGINT or SIGTERM arrived; cleanup ran."""

    exit_code = EXIT_INTERRUPTED
