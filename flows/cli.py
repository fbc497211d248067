"""The one way every flow's `python -m` entry point runs: logging, the flow, one clear line on failure.

Argument names (argparse `dest`) equal the flows' parameter names, so a namespace maps onto a flow call.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any


def run_flow(name: str, flow_fn: Callable[..., Any], args: argparse.Namespace) -> tuple[int, Any]:
    """-> (exit code, the flow's return value or None)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return 0, flow_fn(**vars(args))
    except Exception as e:  # the flow already logged the traceback; end with one clear line
        print(f"{name} failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1, None
