"""Serve the project's deployments (`annotate-corpus/local`, `train/local`) against PREFECT_API_URL.

    prefect server start --host 127.0.0.1 --port 4200 &          # once per machine
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    python -m flows.serve &                                        # keeps running; executes the runs
    prefect deployment run annotate-corpus/local --param corpus=DIR --param out=OUT --watch

Deployment parameters carry the command-line flags' names (corpus, out, model, detector, limit, ...).
Runs execute in this process's working directory, so relative paths are relative to where it started.
"""

from __future__ import annotations

import argparse
import os
import sys

from prefect import serve

from flows.annotate_corpus import annotate_corpus
from flows.train import train


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.serve", description=__doc__.split("\n")[0])
    p.add_argument("--name", default="local", help="deployment name (FLOW/NAME)")
    p.add_argument("--limit", type=int, default=1, help="flow runs executed at once by this server")
    a = p.parse_args(argv)
    if not os.environ.get("PREFECT_API_URL"):
        print("PREFECT_API_URL is not set: start `prefect server start` and export its /api URL", file=sys.stderr)
        return 2
    serve(
        annotate_corpus.to_deployment(name=a.name, description="corpus -> faces -> attribute tables"),
        train.to_deployment(name=a.name, description="fit MGMTN on a CelebA-layout folder"),
        limit=a.limit,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
