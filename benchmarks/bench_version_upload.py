"""`tektii version upload` of an unchanged strategy (the second upload) as a ratio to a plain
`docker build` + `docker push` of the same context to the same registry, both timed in this run.

Also reported: the same pair after a one-line change to main.py (a rebuilt top layer and one layer
pushed), the common case of the inner loop.

Usage: python benchmarks/bench_version_upload.py [--runs N] [--context DIR]
Needs a running Docker engine, docker-registry and the provisioned python:3.11-slim (scripts/provision).
The reference pushes with credentials the platform issued, so both sides do the same work; the
difference is tektii's own cost (API calls, platform verification, git detection).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--context", default=str(ROOT / "examples" / "momentum-strategy"))
    args = parser.parse_args()
    tektii = shutil.which("tektii", path=str(Path(sys.executable).parent)) or "tektii"
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(args.context, f"{tmp}/context")
        args.context = f"{tmp}/context"
        env = {**os.environ, "TEKTII_CONFIG_DIR": f"{tmp}/config", "XDG_CACHE_HOME": f"{tmp}/cache",
               "TEKTII_DATA_DIR": f"{tmp}/data", "DOCKER_CONFIG": f"{tmp}/docker"}
        for key in ("TEKTII_API_URL", "TEKTII_API_KEY"):
            env.pop(key, None)

        def cli(*argv: str) -> str:
            done = subprocess.run([tektii, *argv], env=env, cwd=args.context, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"tektii {' '.join(argv)} failed: {done.stderr}")
            return done.stdout

        try:
            status = json.loads(cli("--output", "json", "platform", "up"))["data"]
            strategy = json.loads(cli("--output", "json", "strategy", "create", "--name", "bench"))["data"]["id"]
            cli("version", "upload", strategy)  # first upload: fills the build cache and the registry

            def upload() -> None:
                cli("version", "upload", strategy)

            # The reference: the same build and push by hand, with credentials the platform issued.
            key = open(f"{tmp}/config/credentials.ini").read().split("api_key = ")[1].split()[0]
            created = requests.post(f"{status['url']}/v1/strategies/{strategy}/versions", json={"gitSha": "bench"},
                                    headers={"Authorization": f"Bearer {key}"}, timeout=60).json()["data"]
            push = created["push"]
            tag = f"{push['registry']}/{push['repository']}:reference"
            subprocess.run(["docker", "login", push["registry"], "-u", push["username"], "--password-stdin"],
                           input=push["password"], text=True, env=env, check=True, capture_output=True)

            def plain() -> None:
                for argv in (["docker", "build", "-q", "-t", tag, args.context], ["docker", "push", "-q", tag]):
                    subprocess.run(argv, env=env, check=True, capture_output=True)

            plain()  # warm, like the first upload
            samples: dict[tuple[str, str], list[float]] = {}
            main_py = Path(args.context) / "main.py"
            for run in range(args.runs):  # interleaved, so both see the same machine load
                for variant in ("unchanged", "changed"):
                    for name, fn in (("plain", plain), ("tektii", upload)):
                        if variant == "changed":
                            main_py.write_text(main_py.read_text() + f"# {name} {run}\n")
                        start = time.perf_counter()
                        fn()
                        samples.setdefault((variant, name), []).append(time.perf_counter() - start)
        finally:
            subprocess.run([tektii, "platform", "down"], env=env, capture_output=True)
    for variant in ("unchanged", "changed"):
        ours, ref = statistics.median(samples[variant, "tektii"]), statistics.median(samples[variant, "plain"])
        print(f"docker build + docker push ({variant:9}) {ref:6.2f} s  (reference)")
        print(f"tektii version upload ({variant:9})      {ours:6.2f} s  ratio {ours / ref:4.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
