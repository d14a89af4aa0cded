"""The command line (``bluegreen``): parsing, prompts and printing. The library below returns values
and raises; ``app`` holds the frame, ``commands`` the commands, ``sandbox`` the sandbox commands."""

from __future__ import annotations

from .app import Invocation, _terraform_binary, cli, main

__all__ = ["Invocation", "_terraform_binary", "cli", "main"]
