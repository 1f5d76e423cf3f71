"""How fast `hyp` starts and how long `hyp create` takes to a ready local cluster.

Runs the real console script in subprocesses: `hyp --help` and `hyp list cluster-stack` (start-up only,
lazy imports), `hyp list hyp-pytorch-job` against the cluster (start-up plus the kubernetes
client import plus one request), and `hyp create` from a fresh config to /readyz, then
`hyp delete cluster-stack --purge`. Everything lives in a temporary HYPERPOD_HOME/KUBECONFIG.

    .venv/bin/python benchmarks/cli_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cluster import compile_package, report

HYP = str(Path(sys.executable).with_name("hyp"))


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}")
    return took


def median(cmd: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    return statistics.median(timed(cmd, env, cwd) for _ in range(runs))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    compile_package()
    tmp = Path(tempfile.mkdtemp(prefix="hyp-bench-"))
    env = {**os.environ, "HYPERPOD_HOME": str(tmp / "home"), "KUBECONFIG": str(tmp / "kubeconfig")}
    try:
        help_s = median([HYP, "--help"], env, tmp, args.runs)
        list_s = median([HYP, "list", "cluster-stack"], env, tmp, args.runs)
        python_s = median([sys.executable, "-c", "pass"], env, tmp, args.runs)
        kubectl = shutil.which("kubectl")
        kubectl_s = median([kubectl, "--help"], env, tmp, args.runs) if kubectl else float("nan")

        subprocess.run(
            [HYP, "init", "cluster-stack"], env=env, cwd=tmp, check=True, capture_output=True
        )
        creates = []
        jobs_list_s = float("nan")
        for i in range(max(1, min(args.runs, 3))):
            subprocess.run(
                [HYP, "configure", "--api-port", str(free_port())],
                env=env,
                cwd=tmp,
                check=True,
                capture_output=True,
            )
            creates.append(timed([HYP, "create"], env, tmp))
            if i == 0:
                jobs_list_s = median([HYP, "list", "hyp-pytorch-job"], env, tmp, args.runs)
            subprocess.run(
                [HYP, "delete", "cluster-stack", "--purge"],
                env=env,
                cwd=tmp,
                check=True,
                capture_output=True,
            )
        create_s = statistics.median(creates)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"hyp CLI start-up and local cluster creation (median of {args.runs} runs; create: {len(creates)})"
    )
    report(
        [
            ("figure", "measured", "target", "anchor"),
            (
                "hyp --help",
                f"{help_s:.3f} s",
                "<= 0.5 s",
                f"kubectl --help {kubectl_s:.3f} s; bare python {python_s:.3f} s",
            ),
            (
                "hyp list cluster-stack",
                f"{list_s:.3f} s",
                "<= 0.5 s",
                f"kubectl --help {kubectl_s:.3f} s",
            ),
            (
                "hyp list hyp-pytorch-job",
                f"{jobs_list_s:.3f} s",
                "-",
                "includes the kubernetes client import",
            ),
            (
                "hyp create (to /readyz)",
                f"{create_s:.2f} s",
                "<= 5 s",
                "kind/k3d cluster creation: tens of seconds (published, not measured here)",
            ),
        ]
    )


if __name__ == "__main__":
    main()
