#!/usr/bin/env python3
"""hearth's registry-cache benchmark: cold build vs rebuild from a registry cache.

For each workload (the 40-step w4 and the 20k-file w3 by default) and each run:

- **cold**: an empty state root, `hearth build` writing an OCI tarball (as bench/run.py);
- **export**: the same root again with `--cache-to type=registry,ref=…,mode=max` to a fresh
  repository of the registry on 127.0.0.1:5000 (a no-op build plus the whole export: every
  blob uploaded, none there before);
- **from-cache**: a second, empty root with `--cache-from` that cache (only the cache config
  up front; the final image's layers when its last step hits).

Wall times of the client command end to end; medians (min-max). The ratio column compares
the from-cache rebuild to hearth's own cold build and to BuildKit v0.24's cold build
(../shared/bench anchors). Needs what bench/run.py needs (it reuses its helpers).

    bench/cache.py                 # w4 and w3, 3 runs each
    bench/cache.py w4 --runs 5 --json cache.json
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: registry, busybox, anchors, timing)

PHASES = ("cold", "export", "from-cache")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workloads", nargs="*", default=["w4", "w3"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hearth", default=os.path.join(run.REPO, "target", "release", "hearth"))
    ap.add_argument("--testkit", default=os.path.join(run.REPO, "target", "release", "hearth-testkit"))
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    for exe in (args.hearth, args.testkit):
        if not os.access(exe, os.X_OK):
            sys.exit(f"{exe} is missing: cargo build --release -p hearth-cli -p hearth-testkit")
    gen = os.path.join(run.SHARED, "workloads", "gen.py")
    subprocess.run([sys.executable, gen, "--seed", str(run.SEED), "--out", f"{run.WORK}/workloads",
                    *args.workloads], check=True, stdout=subprocess.DEVNULL)
    results = run.with_registry(
        args.testkit, "hearth-cache-bench-",
        lambda config: {w: measure(args, config, w) for w in args.workloads})
    report(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def measure(args, config, w):
    wdir = f"{run.WORK}/workloads/{w}"
    roots = (f"{run.WORK}/cache-root-a-{w}", f"{run.WORK}/cache-root-b-{w}")
    out = f"{run.WORK}/cache-out-{w}.tar"
    times = {p: [] for p in PHASES}
    for i in range(args.runs):
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
        # A repository of its own per run: the export uploads every blob.
        ref = f"{run.REGISTRY}/hearth-bench-cache/{w}:run{i}-{time.time_ns()}"

        def build(root, *extra):
            return [args.hearth, "build", "--root", root, "--config", config, "--progress", "quiet",
                    "-f", f"{wdir}/Dockerfile", "-o", f"type=oci,dest={out}", *extra, f"{wdir}/ctx"]

        phases = {
            "cold": build(roots[0]),
            "export": build(roots[0], "--cache-to", f"type=registry,ref={ref},mode=max"),
            "from-cache": build(roots[1], "--cache-from", f"type=registry,ref={ref}"),
        }
        for phase in PHASES:
            t, m = run.timed(phases[phase])
            times[phase].append(t)
            print(f"{w} run {i + 1} {phase}: {t:.3f}s, {m:.0f} MiB", file=sys.stderr)
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
    return {"seconds": times}


def report(results):
    anchors = run.anchors()
    print("| workload | phase | hearth median (min-max, n) | vs hearth cold | vs BuildKit v0.24 cold |")
    print("|---|---|---|---|---|")
    for w, r in results.items():
        cold = statistics.median(r["seconds"]["cold"])
        bk_cold = anchors.get(w, (None,))[0]
        for phase in PHASES:
            xs = r["seconds"][phase]
            med = statistics.median(xs)
            vs_bk = f"{med / bk_cold:.2f}× (BuildKit {bk_cold:.2f} s)" if bk_cold else "-"
            print(f"| {w} | {phase} | {med:.3f} s ({min(xs):.3f}-{max(xs):.3f}, n={len(xs)}) "
                  f"| {med / cold:.2f}× | {vs_bk} |")


if __name__ == "__main__":
    main()
