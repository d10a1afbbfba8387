#!/usr/bin/env python3
"""Collection and executor rate benchmarks against the local rate endpoint (benches/README.md).

    python3 benches/rate.py collect --images 1000000 --accounts 4 [--work DIR] [server and ecrgc options]
    python3 benches/rate.py apply   --images 100000  --accounts 4 [--work DIR] [...]

`collect` starts benches/rate_endpoint/server.py with the organization asked for, writes an
ecrgc config naming its accounts and regions (Inspector, ECS, Lambda and the Config
aggregator on), runs `ecrgc collect` under /usr/bin/time -v and reports:

* images per second, and the ratio of the ideal time to the time taken, where the ideal is
  the longest any one bucket needs for the calls it accepted: max over account × region ×
  API of (accepted calls ÷ rate);
* "no page lost": the rows of the committed run against what the server generated (images,
  tags, relations, coverage, repositories, task definitions), and every unit `ok`;
* wall time, peak RSS, throttles, and the calls per API.

`apply` does the same collection, then `ecrgc plan`, then `ecrgc apply --yes` on the manifest,
and reports deletions per second against the ideal (BatchDeleteImage calls ÷ rate, 100 ids a
call) and that every deletable item was deleted once.

The binary is $ECRGC or $CARGO_TARGET_DIR/release/ecrgc (built beforehand with
`cargo build --release --offline -p ecrgc`); nothing is built here. Results are appended to
WORK/results.jsonl and printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(REPO, "benches", "rate_endpoint", "server.py")


def ecrgc_binary() -> str:
    if os.environ.get("ECRGC"):
        return os.environ["ECRGC"]
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    return os.path.join(target, "release", "ecrgc")


class Server:
    def __init__(self, a):
        args = [sys.executable, SERVER, "--images", str(a.images), "--accounts", str(a.accounts),
                "--regions", a.regions, "--mean-repo", str(a.mean_repo), "--now", a.now,
                "--rate", str(a.rate), "--burst", str(a.burst), "--latency-ms", str(a.latency_ms),
                "--port", "0"]
        for spec in a.limit:
            args += ["--limit", spec]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            raise SystemExit(f"the rate endpoint did not start: {line!r}")
        self.url = line.split()[1]

    def get(self, path):
        return json.loads(urllib.request.urlopen(self.url + path, timeout=600).read())

    def post(self, path, doc=None):
        req = urllib.request.Request(self.url + path, data=json.dumps(doc or {}).encode(), method="POST")
        return json.loads(urllib.request.urlopen(req, timeout=60).read())

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def env_for(url: str) -> dict:
    env = dict(os.environ)
    env.update({
        "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "AKIDBENCH", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/ecrgc-bench-aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/ecrgc-bench-aws-credentials", "NO_COLOR": "1",
    })
    for k in ("ECRGC_CONFIG", "ECRGC_STORE", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    return env


def write_config(a, org: dict, path: str, store: str):
    accounts = ", ".join(f'"{x}"' for x in org["accounts"])
    regions = ", ".join(f'"{r}"' for r in org["regions"])
    extra_collect = "".join(f"{k} = {v}\n" for k, v in (("parallel_units", a.parallel_units),
                                                      ("api_concurrency", a.api_concurrency)) if v)
    extra_apply = "".join(f"{k} = {v}\n" for k, v in (("parallel_repositories", a.parallel_repositories),
                                                    ("api_concurrency", a.apply_concurrency)) if v)
    text = f"""# Written by benches/rate.py for the rate endpoint at one run.
store = "{store}"
[org]
accounts = [{accounts}]
regions = [{regions}]
role_name = "ecrgc-collector"
[sources]
inspector = true
ecs = true
lambda = true
config_aggregator = {{ account = "{org['accounts'][0]}", region = "{org['regions'][0]}", name = "org" }}
[collect]
{extra_collect}[apply]
{extra_apply}"""
    with open(path, "w") as f:
        f.write(text)


def timed(cmd: list[str], env: dict, log: str) -> dict:
    """Runs cmd under /usr/bin/time -v; wall seconds, peak RSS (MiB), CPU seconds, exit status."""
    started = time.monotonic()
    with open(log, "w") as err:
        p = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    wall = time.monotonic() - started
    text = open(log).read()

    def field(name):
        m = re.search(rf"{re.escape(name)}: ([\d.:]+)", text)
        return m.group(1) if m else None

    rss = int(field("Maximum resident set size (kbytes)") or 0) / 1024
    cpu = float(field("User time (seconds)") or 0) + float(field("System time (seconds)") or 0)
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(rss, 1), "cpu_s": round(cpu, 2),
            "status": p.returncode, "stdout": p.stdout}


def query(env: dict, store: str, sql: str) -> list[dict]:
    out = subprocess.run([ecrgc_binary(), "query", sql, "--store", store, "--format", "json"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True).stdout
    out = out.strip()
    if out.startswith("["):
        return json.loads(out)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def ideal(stats: dict, api_filter=None) -> tuple[float, dict | None]:
    """The longest any bucket needs for the calls it accepted, and that bucket."""
    best, which = 0.0, None
    for b in stats["buckets"]:
        if api_filter and not api_filter(b["api"]):
            continue
        t = b["accepted"] / b["rate"]
        if t > best:
            best, which = t, b
    return best, which


def per_api(stats: dict) -> dict:
    out = {}
    for api, n in sorted(stats["calls"].items()):
        out[api] = {"calls": n, "throttled": stats["throttles"].get(api, 0)}
    return out


def collect(a, server: Server, work: str, env: dict, org: dict) -> dict:
    store = os.path.join(work, "store")
    config = os.path.join(work, "ecrgc.toml")
    write_config(a, org, config, store)
    server.post("/_bench/stats/reset")
    cpu0 = server.cpu_seconds()
    run = timed([ecrgc_binary(), "collect", "--config", config, "--now", a.now],
                env, os.path.join(work, "collect.time"))
    server_cpu = server.cpu_seconds() - cpu0
    stats = server.get("/_bench/stats")
    if run["status"] != 0:
        raise SystemExit(f"ecrgc collect failed ({run['status']}), see {work}/collect.time")
    totals = org["totals"]
    got = {}
    for table, sql in [
        ("images", "SELECT COUNT(*) AS n, COUNT(DISTINCT account_id || region || repository_name || image_digest) AS d FROM images"),
        ("image_tags", "SELECT COUNT(*) AS n FROM image_tags"),
        ("image_relations", "SELECT COUNT(*) AS n FROM image_relations"),
        ("inspector_coverage", "SELECT COUNT(*) AS n FROM inspector_coverage"),
        ("repositories", "SELECT COUNT(*) AS n FROM repositories"),
        ("task_definitions", "SELECT COUNT(DISTINCT resource_arn) AS n FROM workload_refs"),
    ]:
        row = query(env, store, sql)[0]
        got[table] = int(row["n"])
        if table == "images":
            got["distinct_images"] = int(row["d"])
    units = query(env, store, "SELECT status, COUNT(*) AS n FROM collection_coverage GROUP BY status")
    unit_status = {r["status"]: int(r["n"]) for r in units}
    lost = {t: (totals[t], got[t]) for t in ("images", "image_tags", "image_relations", "inspector_coverage",
                                             "repositories", "task_definitions") if totals[t] != got[t]}
    if got["distinct_images"] != got["images"]:
        lost["duplicates"] = (got["images"], got["distinct_images"])
    best, bucket = ideal(stats)
    result = {
        "bench": "collect", "images": a.images, "accounts": a.accounts, "regions": a.regions,
        "units": org["units"], "rate": a.rate, "burst": a.burst, "latency_ms": a.latency_ms,
        "limits": a.limit, "parallel_units": a.parallel_units, "api_concurrency": a.api_concurrency,
        "wall_s": run["wall_s"], "peak_rss_mib": run["peak_rss_mib"], "ecrgc_cpu_s": run["cpu_s"],
        "server_cpu_s": round(server_cpu, 1),
        "images_per_s": round(got["images"] / run["wall_s"], 1),
        "ideal_s": round(best, 2), "ideal_bucket": bucket and f"{bucket['account']}/{bucket['region']}/{bucket['api']}",
        "ratio": round(best / run["wall_s"], 3),
        "throttles": sum(stats["throttles"].values()), "calls": sum(stats["calls"].values()),
        "no_page_lost": not lost, "lost": lost, "unit_status": unit_status, "per_api": per_api(stats),
        "load_before": a.load_before,
    }
    return result


def apply(a, server: Server, work: str, env: dict, org: dict) -> dict:
    store = os.path.join(work, "store")
    config = os.path.join(work, "ecrgc.toml")
    out = os.path.join(work, "plan")
    shutil.rmtree(out, ignore_errors=True)
    plan = timed([ecrgc_binary(), "plan", "--config", config, "--now", a.now, "--out", out],
                 env, os.path.join(work, "plan.time"))
    if plan["status"] != 0:
        raise SystemExit(f"ecrgc plan failed ({plan['status']}), see {work}/plan.time")
    manifest = os.path.join(out, "manifest.json")
    with open(manifest) as f:
        items = len(json.load(f)["items"])
    server.post("/_bench/stats/reset")
    cpu0 = server.cpu_seconds()
    # An hour after the snapshot: inside the manifest's validity, after the plan.
    at = a.now.replace("T00:", "T01:")
    run = timed([ecrgc_binary(), "apply", manifest, "--config", config, "--yes", "--now", at],
                env, os.path.join(work, "apply.time"))
    server_cpu = server.cpu_seconds() - cpu0
    stats = server.get("/_bench/stats")
    summary = [line.strip() for line in run["stdout"].splitlines() if line.strip()]
    deletions = stats["deletions"]
    best_delete, bucket = ideal(stats, lambda api: api == "ecr:BatchDeleteImage")
    best_all, bucket_all = ideal(stats)
    delete_calls = stats["calls"].get("ecr:BatchDeleteImage", 0) - stats["throttles"].get("ecr:BatchDeleteImage", 0)
    return {
        "bench": "apply", "images": a.images, "accounts": a.accounts, "units": org["units"],
        "manifest_items": items, "plan_wall_s": plan["wall_s"], "plan_peak_rss_mib": plan["peak_rss_mib"],
        "rate": a.rate, "limits": a.limit, "latency_ms": a.latency_ms,
        "parallel_repositories": a.parallel_repositories, "api_concurrency": a.apply_concurrency,
        "wall_s": run["wall_s"], "peak_rss_mib": run["peak_rss_mib"], "ecrgc_cpu_s": run["cpu_s"],
        "server_cpu_s": round(server_cpu, 1), "status": run["status"],
        "deletions": deletions, "delete_failures": stats["delete_failures"],
        "every_item_deleted_once": deletions == items and stats["delete_failures"] == 0,
        "batch_delete_calls": delete_calls, "ids_per_call": round(deletions / max(1, delete_calls), 1),
        "deletions_per_s": round(deletions / run["wall_s"], 1),
        "ideal_delete_s": round(best_delete, 2),
        "ideal_delete_bucket": bucket and f"{bucket['account']}/{bucket['region']}",
        "ratio": round(best_delete / run["wall_s"], 3),
        "ideal_all_s": round(best_all, 2),
        "ideal_all_bucket": bucket_all and f"{bucket_all['account']}/{bucket_all['region']}/{bucket_all['api']}",
        "ratio_all": round(best_all / run["wall_s"], 3),
        "throttles": sum(stats["throttles"].values()), "per_api": per_api(stats),
        # When each account × region deleted: side by side, or one after another.
        "delete_windows": {f"{b['account']}/{b['region']}": [b["first_s"], b["last_s"], b["accepted"]]
                           for b in stats["buckets"] if b["api"] == "ecr:BatchDeleteImage"},
        "summary": summary,
        "load_before": a.load_before,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["collect", "apply"])
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--accounts", type=int, default=4)
    p.add_argument("--regions", default="eu-west-1,us-east-1")
    p.add_argument("--mean-repo", type=int, default=500)
    p.add_argument("--now", default="2026-11-21T00:00:00Z")
    p.add_argument("--rate", type=float, default=10.0)
    p.add_argument("--burst", type=float, default=10.0)
    p.add_argument("--limit", action="append", default=[], metavar="API=RATE:BURST")
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--parallel-units", type=int, default=0, help="[collect] parallel_units (0: ecrgc's default)")
    p.add_argument("--api-concurrency", type=int, default=0, help="[collect] api_concurrency (0: default)")
    p.add_argument("--parallel-repositories", type=int, default=0, help="[apply] parallel_repositories")
    p.add_argument("--apply-concurrency", type=int, default=0, help="[apply] api_concurrency")
    p.add_argument("--work", help="work folder (default /tmp/ecrgc-rate-<what>-<images>); its store is replaced")
    p.add_argument("--keep", action="store_true", help="keep the store afterwards")
    a = p.parse_args()
    a.load_before = os.getloadavg()[0]
    work = a.work or f"/tmp/ecrgc-rate-{a.what}-{a.images}"
    shutil.rmtree(os.path.join(work, "store"), ignore_errors=True)
    os.makedirs(work, exist_ok=True)
    if not os.path.exists(ecrgc_binary()):
        raise SystemExit(f"no ecrgc binary at {ecrgc_binary()}: cargo build --release --offline -p ecrgc")
    server = Server(a)
    try:
        env = env_for(server.url)
        org = server.get("/_bench/org")
        results = [collect(a, server, work, env, org)]
        if a.what == "apply":
            results.append(apply(a, server, work, env, org))
    finally:
        server.close()
        if not a.keep:
            shutil.rmtree(os.path.join(work, "store"), ignore_errors=True)
    with open(os.path.join(work, "results.jsonl"), "a") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    for r in results:
        print(json.dumps(r, indent=1))
    ok = all(r.get("no_page_lost", True) and r.get("every_item_deleted_once", True) for r in results)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
