#!/usr/bin/env python3
"""Push and pull of a 500 MB image to a local registry: hearth against `skopeo copy`.

Builds (once) an image of busybox plus five 100 MB layers of random bytes, which gzip
cannot shrink, and exports it as an OCI layout for skopeo. Then, for each run:

- **push**: an empty Distribution registry (fresh storage, so no blob is already there);
  `hearth push NAME` from hearth's store, and, on another empty registry,
  `skopeo copy oci:LAYOUT docker://…` of the same blobs;
- **pull**: from the registry holding the image, `hearth pull` into an empty state root
  (blobs downloaded and verified into the store, as a build would) and `skopeo copy
  docker://… oci:DIR` into an empty directory.

Prints medians (min-max) and hearth's time as a ratio of skopeo's.

    bench/registry.py              # 3 runs
    bench/registry.py --runs 5 --json out.json
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORK = "/var/tmp/hearth-bench-registry"
LAYERS = 5
LAYER_BYTES = 100_000_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """docker-registry on a loopback port with its own storage; `reset` empties it."""

    def __init__(self, tmp, port):
        self.addr = f"127.0.0.1:{port}"
        self.storage = os.path.join(tmp, f"registry-{port}")
        self.config = os.path.join(tmp, f"registry-{port}.yml")
        with open(self.config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
                    f"http:\n  addr: {self.addr}\n")
        self.proc = None

    def up(self):
        try:
            with urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=3) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self):
        exe = shutil.which("docker-registry") or sys.exit("docker-registry is missing: apt-get install docker-registry")
        self.proc = subprocess.Popen([exe, "serve", self.config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(150):
            if self.up():
                return
            time.sleep(0.1)
        sys.exit(f"docker-registry did not start on {self.addr}")

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def reset(self):
        self.stop()
        shutil.rmtree(self.storage, ignore_errors=True)
        self.start()


def run(cmd, **kw):
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stderr.decode(errors='replace')}")
    return result


def timed(cmd):
    os.sync()
    start = time.perf_counter()
    run(cmd)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hearth", default=os.path.join(REPO, "target", "release", "hearth"))
    ap.add_argument("--testkit", default=os.path.join(REPO, "target", "release", "hearth-testkit"))
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    for exe in (args.hearth, args.testkit):
        if not os.access(exe, os.X_OK):
            sys.exit(f"{exe} is missing: cargo build --release -p hearth-cli -p hearth-testkit")
    shutil.which("skopeo") or sys.exit("skopeo is missing: apt-get install skopeo")

    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    tmp = tempfile.mkdtemp(prefix="hearth-bench-registry-", dir="/var/tmp")
    registry = Registry(tmp, free_port())
    other = Registry(tmp, free_port())
    try:
        registry.start()
        other.start()
        results = bench(args, registry, other)
    finally:
        registry.stop()
        other.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(WORK, ignore_errors=True)
    report(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def build_image(args, registry, name, layout):
    """busybox from the registry, then LAYERS layers of random bytes; into hearth's store
    under `name` and as an OCI layout for skopeo."""
    busybox_layout = os.path.join(WORK, "busybox")
    run([args.testkit, "busybox-layout", busybox_layout])
    run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{busybox_layout}:latest",
         f"docker://{registry.addr}/library/busybox:latest"])
    ctx = os.path.join(WORK, "ctx")
    os.makedirs(ctx)
    steps = "".join(f"RUN head -c {LAYER_BYTES} /dev/urandom > /blob{i}\n" for i in range(LAYERS))
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(f"FROM {registry.addr}/library/busybox\n{steps}")
    root = os.path.join(WORK, "root")
    print(f"building a {LAYERS * LAYER_BYTES // 1_000_000} MB image…", file=sys.stderr)
    run([args.hearth, "build", "--root", root, "--progress", "quiet", "-t", name,
         "-o", f"type=oci,dest={layout},tar=false,name={name}", ctx])
    return root


def bench(args, registry, other):
    name = f"{registry.addr}/bench/big:1"
    layout = os.path.join(WORK, "layout")
    root = build_image(args, registry, name, layout)
    skopeo_target = f"docker://{other.addr}/bench/big:1"
    times = {"push": {"hearth": [], "skopeo": []}, "pull": {"hearth": [], "skopeo": []}}
    for i in range(args.runs):
        # Push into empty registries: every blob has to travel.
        registry.reset()
        other.reset()
        t = timed([args.hearth, "push", "--root", root, name])
        times["push"]["hearth"].append(t)
        s = timed(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}",
                   skopeo_target])
        times["push"]["skopeo"].append(s)
        print(f"run {i + 1} push: hearth {t:.2f}s, skopeo {s:.2f}s", file=sys.stderr)

        # Pull what hearth pushed into empty destinations.
        pull_root = os.path.join(WORK, f"pull-root-{i}")
        t = timed([args.hearth, "pull", "--root", pull_root, name])
        times["pull"]["hearth"].append(t)
        shutil.rmtree(pull_root, ignore_errors=True)
        pull_dir = os.path.join(WORK, f"pull-oci-{i}")
        s = timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{name}",
                   f"oci:{pull_dir}:big"])
        times["pull"]["skopeo"].append(s)
        shutil.rmtree(pull_dir, ignore_errors=True)
        print(f"run {i + 1} pull: hearth {t:.2f}s, skopeo {s:.2f}s", file=sys.stderr)
    return {"image_bytes": LAYERS * LAYER_BYTES, "seconds": times}


def report(results):
    mb = results["image_bytes"] / 1e6
    print(f"| {mb:.0f} MB image | hearth median (min-max, n) | skopeo copy median (min-max) | hearth / skopeo |")
    print("|---|---|---|---|")
    for op, r in results["seconds"].items():
        h, s = r["hearth"], r["skopeo"]
        hm, sm = statistics.median(h), statistics.median(s)
        print(f"| {op} | **{hm:.2f}s** ({min(h):.2f}-{max(h):.2f}, n={len(h)}) | "
              f"{sm:.2f}s ({min(s):.2f}-{max(s):.2f}) | {hm / sm:.2f}x |")


if __name__ == "__main__":
    main()
