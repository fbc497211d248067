"""Prefect flows: parameters, tasks and artifacts around the pipeline's stages."""

import os

# Offline machines: Prefect's server must not try to phone home.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
