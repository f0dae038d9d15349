#!/usr/bin/env python3
"""The measurements of scripts/bench, which starts the servers and passes them in:

  OURS_URL, CEILING_URL, REFERENCE_URL   the registry, the ceiling worker, docker-registry
  OURS_PGID, CEILING_PGID, REFERENCE_PID process groups / id, for CPU and memory
  OPS_URL, OPS_LOG                       the registry again, logging each request's storage
                                         operations (LOG_STORAGE_OPS), and its wrangler log
  COLD_START_OURS, COLD_START_CEILING, COLD_START_REFERENCE   seconds to the first answer
  WASM                                   the built wasm module
  WORK                                   a scratch directory
  RUNS                                   runs per throughput figure (median), default 3
  SCAN_LAYOUT, SYFT                      the Debian image's OCI layout and syft, from
                                         tests/scan-fixtures/setup (tests/.tools/scan), for
                                         the scan stage
  CLI_URL, CLI_LIMIT_URL, EDGE_REGISTRY  for the cli stage: the registry serving HTTPS, the
                                         same with an 8 MiB body limit, and the release
                                         build of the edge-registry CLI
  HOOKS_URL, HOOKS_RECEIVER_PORT, HOOKS_LOG  for the webhooks stage: the registry with a
                                         WEBHOOKS receiver on that port, which this script
                                         runs and which always answers 500, and its log
  ONLY                                   optional: the stages to run, comma-separated
                                         (throughput, requests_per_second,
                                         storage_operations, scan, cli, webhooks)

Prints every figure as a Markdown table, with the ratios ours/ceiling and ours/reference.
"""

import base64
import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse

MIB = 1024 * 1024
OURS, CEILING, REFERENCE = "ours", "ceiling", "reference"
# The ceiling worker again, storing bodies as multipart uploads of 16 MiB parts, as the registry
# stores blobs (scripts/ceiling/index.js): the like-for-like ceiling of a pull.
CEILING_MULTIPART = "ceiling-multipart"
CEILINGS = (CEILING, CEILING_MULTIPART)
URL = {OURS: os.environ["OURS_URL"], CEILING: os.environ["CEILING_URL"], REFERENCE: os.environ["REFERENCE_URL"]}
URL[CEILING_MULTIPART] = URL[CEILING]
WORK = os.environ["WORK"]
RUNS = int(os.environ.get("RUNS", "3"))
# Untimed pushes and pulls of 1 MiB per way of pushing, on each server, before the first stage.
WARM_UP_RUNS = 5
# How many times each copy of a blob of one object is pulled, from 64 MiB (see `throughput`).
PULLS_OF_ONE_OBJECT = 3
# Figures a stage left out rather than fail whole; the bench still fails.
FAILED_FIGURES = []
# The test administrator of tests/access.env: the bench pushes as a user, as clients do.
ADMIN = "Basic " + base64.b64encode(b"admin:admin-password").decode()
AUTH = {OURS: ADMIN, CEILING: None, CEILING_MULTIPART: None, REFERENCE: None}
ORAS = os.path.join(os.path.dirname(__file__), "..", "tests", ".tools", "bin", "oras")
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Cloudflare's prices (USD), from https://developers.cloudflare.com/r2/pricing/ ,
# https://developers.cloudflare.com/kv/platform/pricing/ and
# https://developers.cloudflare.com/workers/platform/pricing/ (Standard usage model).
PRICE = {"class_a": 4.50e-6, "class_b": 0.36e-6, "kv_reads": 0.50e-6, "kv_writes": 5.00e-6, "request": 0.30e-6}


def log(message):
    print(message, file=sys.stderr, flush=True)


# --- processes ---------------------------------------------------------------------------

def group_pids(pgid):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    pids.append(int(entry))
            except (OSError, IndexError):
                pass
    return pids


def server_pids(server):
    if server == REFERENCE:
        return [int(os.environ["REFERENCE_PID"])]
    if server == CEILING_MULTIPART:
        server = CEILING
    return group_pids(int(os.environ[f"{server.upper()}_PGID"]))


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def cpu_seconds(server, pids=None):
    """CPU seconds (user and system) of a server's processes so far, or of `pids` only."""
    total = 0
    for pid in server_pids(server) if pids is None else pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def runtime_pids(server):
    """The process that runs the code: workerd for the workers, the registry itself else."""
    pids = server_pids(server)
    return [p for p in pids if comm(p) == "workerd"] if server != REFERENCE else pids


def reset_peak_rss(server):
    for pid in runtime_pids(server):
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")


def peak_rss_mib(server):
    peak = 0
    for pid in runtime_pids(server):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
    return peak / 1024


# --- raw HTTP ----------------------------------------------------------------------------

def connection(url, timeout=600):
    parsed = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)


# wrangler dev's proxy sometimes answers 503 "Your worker restarted mid-request" for a request
# that never reached the worker (a pooled connection the runtime had closed; see tests/worker.rs).
# Production has no such proxy: such a request is sent again. A body that cannot be replayed
# is given as a function that makes it afresh.
DEV_PROXY_ATTEMPTS = 4
# Seconds spent so far on requests that the dev proxy refused or parked, and on the pauses
# before sending them again: a timed run does not count them (see `timed`), only the attempt
# that was answered.
dev_proxy_lost_seconds = 0.0


def lost_to_dev_proxy(since, pause=0.0):
    """Books the time from `since` (a failed attempt, plus `pause`) as the dev proxy's."""
    global dev_proxy_lost_seconds
    time.sleep(pause)
    dev_proxy_lost_seconds += time.monotonic() - since


def request(server, method, path, body=None, headers=None, chunked=False, base=None):
    headers = dict(headers or {})
    if AUTH[server]:
        headers["Authorization"] = AUTH[server]
    for attempt in range(DEV_PROXY_ATTEMPTS):
        started = time.monotonic()
        conn = connection(base or URL[server])
        conn.request(method, path, body=body() if callable(body) else body, headers=headers,
                     encode_chunked=chunked)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        if response.status != 503 or b"restarted mid-request" not in data:
            return response, data
        lost_to_dev_proxy(started, pause=0.2)
    return response, data


def file_chunks(path, size=MIB):
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def start_upload(server, repo):
    response, _ = request(server, "POST", f"/v2/{repo}/blobs/uploads/")
    assert response.status == 202, (server, response.status)
    location = response.getheader("Location")
    return urllib.parse.urlsplit(location)._replace(scheme="", netloc="").geturl()


def finish_upload(server, location, digest):
    separator = "&" if "?" in location else "?"
    response, body = request(server, "PUT", f"{location}{separator}digest={digest}", body=b"")
    assert response.status == 201, (server, response.status, body[:200])


def push_streamed(server, repo, path, digest):
    """One PATCH of unknown length (chunked transfer encoding), as docker and crane send."""
    if server in CEILINGS:
        query = "?multipart" if server == CEILING_MULTIPART else ""
        response, _ = request(server, "PUT", f"/{repo}{query}", body=lambda: open(path, "rb"),
                              headers={"Content-Length": str(os.path.getsize(path))})
        assert response.status == 201
        return
    location = start_upload(server, repo)
    response, _ = request(server, "PATCH", location, body=lambda: file_chunks(path), chunked=True,
                          headers={"Content-Type": "application/octet-stream"})
    assert response.status == 202, (server, response.status)
    finish_upload(server, response.getheader("Location"), digest)


def push_whole(server, repo, path, digest):
    """A POST, then a PUT of the whole blob with its length and digest, as oras and containerd
    send a blob: the closest a registry push comes to the ceiling worker's one put."""
    location = start_upload(server, repo)
    separator = "&" if "?" in location else "?"
    response, body = request(server, "PUT", f"{location}{separator}digest={digest}",
                             body=lambda: open(path, "rb"),
                             headers={"Content-Type": "application/octet-stream",
                                      "Content-Length": str(os.path.getsize(path))})
    assert response.status == 201, (server, response.status, body[:200])


def push_chunked(server, repo, path, digest, chunk=16 * MIB):
    """PATCHes of 16 MiB with Content-Range, as clients that split uploads send them."""
    location = start_upload(server, repo)
    offset = 0
    for piece in file_chunks(path, chunk):
        headers = {"Content-Type": "application/octet-stream",
                   "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                   "Content-Length": str(len(piece))}
        response, _ = request(server, "PATCH", location, body=piece, headers=headers)
        assert response.status == 202, (server, response.status)
        location = urllib.parse.urlsplit(response.getheader("Location"))._replace(scheme="", netloc="").geturl()
        offset += len(piece)
    finish_upload(server, location, digest)


def pull(server, repo, digest, size):
    """A GET of the whole blob, following the registry's redirect. The dev proxy may also park
    a GET forever (tests/worker.rs): one that sends nothing for 30 s is sent again."""
    start_path = f"/{repo}" if server in CEILINGS else f"/v2/{repo}/blobs/{digest}"
    headers = {"Authorization": AUTH[server]} if AUTH[server] else {}
    base, path = URL[server], start_path
    for _ in range(2 * DEV_PROXY_ATTEMPTS):
        started = time.monotonic()
        conn = connection(base, timeout=30)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            if response.status == 503:
                response.read()
                lost_to_dev_proxy(started, pause=0.2)
                continue
            if response.status in (301, 302, 307):
                target = urllib.parse.urlsplit(response.getheader("Location"))
                base = f"{target.scheme}://{target.netloc}"
                path = target.path + ("?" + target.query if target.query else "")
                response.read()
                continue
            assert response.status == 200, (server, response.status)
            received = 0
            while chunk := response.read(MIB):
                received += len(chunk)
            assert received == size, (server, received, size)
            return
        except TimeoutError:
            log(f"{server}: GET {path[:60]} parked by the dev proxy, sent again")
            lost_to_dev_proxy(started)
            base, path = URL[server], start_path
        finally:
            conn.close()
    raise AssertionError("too many redirects, dev-proxy 503s or parked requests")


# --- a real client -----------------------------------------------------------------------

def host(server):
    return urllib.parse.urlsplit(URL[server]).netloc


# The slowest oras run (1 GiB through the registry) takes about 70 s: one that waits this long
# is waiting for an answer wrangler dev's proxy dropped.
ORAS_TIMEOUT = 240


def oras(args_of_attempt, before_attempt=lambda: None, count_failed=False):
    """Runs oras with the arguments `args_of_attempt(attempt)`; once more where wrangler dev's
    proxy dropped one of its requests (a 503, or no answer at all). The failed attempts' time
    is the proxy's, not counted in a timed run, unless `count_failed`. `before_attempt` runs
    before each attempt. Returns the number of the attempt that succeeded, from 0."""
    for attempt in range(DEV_PROXY_ATTEMPTS):
        args = args_of_attempt(attempt)
        before_attempt()
        started = time.monotonic()
        try:
            done = subprocess.run([ORAS, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, timeout=ORAS_TIMEOUT)
        except subprocess.TimeoutExpired:
            log(f"oras {args[0]} got no answer in {ORAS_TIMEOUT} s (attempt {attempt + 1})")
            lost_to_dev_proxy(started)
            continue
        if done.returncode == 0:
            return attempt
        log(f"oras {args[0]} failed (attempt {attempt + 1}): {done.stderr.strip()[:300]}")
        if not count_failed:
            lost_to_dev_proxy(started)
    raise RuntimeError(f"oras {' '.join(args[:2])} failed {DEV_PROXY_ATTEMPTS} times")


def pushed_to(repo, attempt):
    """Where attempt `attempt` of a push to `repo` goes when its storage operations are
    counted. An attempt the dev proxy broke may have stored blobs already, which oras would
    then skip: each attempt after the first pushes to a repository of its own, so that the
    one counted sends as much as the first."""
    return repo if attempt == 0 else f"{repo}-attempt-{attempt + 1}"


def oras_login_args(server):
    return ["-u", "admin", "-p", "admin-password"] if server == OURS else []


def oras_push(server, repo, path):
    """Pushes `path` as the one layer of `repo:v1`. The proxy mostly breaks the answer to a
    1 GiB PUT that the worker completed, and oras's next attempt then skips the stored layer:
    a broken attempt's time is counted, so that such a run is timed as no faster than it
    was."""
    directory, name = os.path.split(path)
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        oras(lambda _: ["push", "--plain-http", *oras_login_args(server), f"{host(server)}/{repo}:v1", name],
             count_failed=True)
    finally:
        os.chdir(cwd)


def oras_pull(server, repo):
    out = os.path.join(WORK, "pulled")
    shutil.rmtree(out, ignore_errors=True)
    oras(lambda _: ["pull", "--plain-http", "-o", out, f"{host(server)}/{repo}:v1"])
    shutil.rmtree(out, ignore_errors=True)


# --- measurements ------------------------------------------------------------------------

def timed(f, *args):
    """Seconds that f took, less those lost to requests the dev proxy refused or parked."""
    start, lost = time.monotonic(), dev_proxy_lost_seconds
    f(*args)
    return time.monotonic() - start - (dev_proxy_lost_seconds - lost)


def timed_despite_dev_proxy(f, *args):
    """The time of a run that wrangler dev's proxy did not break: under load it sometimes resets
    or drops a long request (see tests/worker.rs), which production does not do. Such a run is
    made again, and only the complete run is timed."""
    for attempt in range(DEV_PROXY_ATTEMPTS):
        try:
            return timed(f, *args)
        except (ConnectionError, TimeoutError, http.client.HTTPException) as error:
            log(f"run broken by the dev proxy ({error!r}), made again")
    raise RuntimeError(f"{DEV_PROXY_ATTEMPTS} runs broken in a row")


def measured(server, size, f, args_per_run):
    """Runs f once per argument tuple: the median rate (MiB/s), the server's CPU seconds per
    GiB and its peak resident memory over those runs (the peak is reset before each)."""
    seconds, cpu, peak = [], 0.0, 0.0
    for args in args_per_run:
        reset_peak_rss(server)
        before = cpu_seconds(server)
        seconds.append(timed_despite_dev_proxy(f, *args))
        cpu += cpu_seconds(server) - before
        peak = max(peak, peak_rss_mib(server))
    gib = size * len(args_per_run) / (1024 * MIB)
    return size / MIB / statistics.median(seconds), cpu / gib, peak


def make_file(size, name):
    """Random bytes, so that nothing on the way can compress or deduplicate them."""
    path = os.path.join(WORK, name)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for offset in range(0, size, MIB):
            chunk = os.urandom(min(MIB, size - offset))
            digest.update(chunk)
            f.write(chunk)
    return path, "sha256:" + digest.hexdigest()


def warm_up():
    """Pushes and pulls a few small blobs on every server, untimed: the first stage would
    otherwise time the workers' first requests, whose code is still being compiled (wasm
    and JavaScript are compiled in tiers as they run)."""
    path, digest = make_file(MIB, "warm-up")
    for server in (OURS, *CEILINGS, REFERENCE):
        for i in range(WARM_UP_RUNS):
            pushes = [push_streamed] if server in CEILINGS else [push_streamed, push_whole, push_chunked]
            for push in pushes:
                repo = f"bench/warm-up-{push.__name__}-{i}"
                push(server, repo, path, digest)
                pull(server, repo, digest, MIB)
    os.remove(path)


def throughput(results):
    """Push and pull rates; CPU per GiB and peak memory come from the same runs."""
    warm_up()
    sizes = [1 * MIB, 64 * MIB, 1024 * MIB]
    for size in sizes:
        label = f"{size // MIB} MiB"
        # Bytes pushed again are stored once, so each way of storing a blob gets bytes of its
        # own: pulls then read what that way stored (a multipart object for a streamed PATCH,
        # one object for a blob sent whole).
        streamed = make_file(size, f"throughput-{size}-streamed")
        whole = make_file(size, f"throughput-{size}-whole")
        # A 1 MiB run takes tens of milliseconds, where the machine's noise weighs most: its
        # figures are medians of three times as many runs.
        runs_here = 3 * RUNS if size < 64 * MIB else RUNS

        def push_and_pull(server, method, push, file, runs):
            log(f"push/pull {label} {method}: {server} x{runs}")
            slug = re.sub(r"[^a-z0-9]+", "-", method.lower()).strip("-")
            repos = [(f"bench/{slug}-{size}-{i}",) for i in range(runs)]
            path, digest = file
            rate, cpu, peak = measured(server, size, lambda repo: push(server, repo, path, digest), repos)
            results["push", label, method, server] = (rate, runs)
            results["memory", label, method, server] = peak
            results["cpu push", label, method, server] = cpu
            # From 64 MiB, a pull of one object takes tens of milliseconds, where the noise
            # weighs most: each copy is pulled three times (the edge cache keeps only smaller
            # blobs, so each pull takes the same path). Multipart objects, which the
            # simulator reads at about 30 MiB/s, are pulled once.
            one_object = method in (WHOLE, CEILING_PUSH) or server == REFERENCE
            pulls = repos * (PULLS_OF_ONE_OBJECT if size >= 64 * MIB and one_object else 1)
            rate, cpu, _ = measured(server, size, lambda repo: pull(server, repo, digest, size), pulls)
            results["pull", label, f"raw GET (pushed: {method})", server] = (rate, len(pulls))
            results["cpu pull", label, method, server] = cpu

        for server in (OURS, *CEILINGS, REFERENCE):
            # The ceiling worker's PUT is one put of a body of known length, streamed or not.
            method = STREAMED if server not in CEILINGS else CEILING_PUSH
            push_and_pull(server, method, push_streamed, streamed, runs_here)
        for server in (OURS, REFERENCE):
            push_and_pull(server, WHOLE, push_whole, whole, runs_here)
            log(f"push {label} raw chunked: {server} x{runs_here}")
            repos = [(f"bench/chunked-{size}-{i}",) for i in range(runs_here)]
            path, digest = streamed
            rate, _, _ = measured(server, size, lambda repo: push_chunked(server, repo, path, digest), repos)
            results["push", label, "raw, 16 MiB PATCHes", server] = (rate, runs_here)
            # oras sends blobs whole, and pulls what it pushed. A failure of its own (the dev
            # proxy broke every attempt) leaves its figures out, not the stage's others.
            log(f"push/pull {label} oras: {server} x{runs_here}")
            repos = [(f"bench/oras-{size}-{i}",) for i in range(runs_here)]
            path, _ = whole
            try:
                rate, _, _ = measured(server, size, lambda repo: oras_push(server, repo, path), repos)
                results["push", label, "oras", server] = (rate, runs_here)
                rate, _, _ = measured(server, size, lambda repo: oras_pull(server, repo), repos)
                results["pull", label, "oras", server] = (rate, runs_here)
            except RuntimeError as error:
                log(f"push/pull {label} oras: {server} failed: {error}")
                FAILED_FIGURES.append(f"{label} oras {server}")
        for path, _ in (streamed, whole):
            os.remove(path)


def load(url, connections, seconds, method="GET"):
    """Requests per second and p50 / p99 latency (ms) from hey, a loopback load generator."""
    # distribution serves OCI manifests only to clients that accept them, as clients do.
    args = ["hey", "-z", f"{seconds}s", "-c", str(connections), "-m", method,
            "-H", "Accept: application/vnd.oci.image.manifest.v1+json", url]
    output = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    statuses = re.findall(r"\[(\d{3})\]\s+\d+ responses", output)
    assert statuses and all(s.startswith("2") for s in statuses), f"{url}: {statuses}"

    def percentile(p):
        return float(re.search(rf"\s{p}% in ([\d.]+) secs", output).group(1)) * 1000

    return rps, percentile(50), percentile(99)


def small_image(server):
    """A tiny image to read manifests and blobs of, pushed with oras; its manifest digest."""
    path = os.path.join(WORK, "small.txt")
    with open(path, "w") as f:
        f.write("hello\n")
    oras_push(server, "bench/small", path)
    response, _ = request(server, "HEAD", "/v2/bench/small/manifests/v1",
                          headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    digest = response.getheader("Docker-Content-Digest")
    layer = hashlib.sha256(b"hello\n").hexdigest()
    return digest, f"sha256:{layer}"


def requests_per_second(results):
    """Each endpoint at each concurrency in rounds of a few seconds, the ceiling's trivial GET
    in every round beside them, so that the machine's drift reaches all alike: the figures
    of the round with the median rate."""
    levels = (1, 8, 32)
    seconds, rounds = 2, 3
    endpoints = {}
    for server in (OURS, REFERENCE):
        manifest, layer = small_image(server)
        base = URL[server]
        endpoints[server] = {
            "manifest GET by tag": (f"{base}/v2/bench/small/manifests/v1", "GET"),
            "manifest GET by digest": (f"{base}/v2/bench/small/manifests/{manifest}", "GET"),
            "blob HEAD": (f"{base}/v2/bench/small/blobs/{layer}", "HEAD"),
        }
    request(CEILING, "PUT", "/small", body=b"x" * 500, headers={"Content-Length": "500"})
    endpoints[CEILING] = {"trivial GET (ceiling)": (f"{URL[CEILING]}/small", "GET")}
    for c in levels:
        measured = {}
        for round_number in range(rounds):
            for server, named in endpoints.items():
                for name, (url, method) in named.items():
                    log(f"load {name} c={c}: {server}, round {round_number + 1}")
                    # Anonymous, as most pulls are: the repositories are public.
                    measured.setdefault((name, server), []).append(load(url, c, seconds, method))
        for (name, server), figures in measured.items():
            results["rps", name, c, server] = sorted(figures)[len(figures) // 2]


def storage_operations(results):
    """Operations a typical image (5 layers of 10 MiB, a config, a manifest) costs to push and
    to pull with oras, as the registry's storage layer counted them (LOG_STORAGE_OPS)."""
    directory = os.path.join(WORK, "typical")
    os.makedirs(directory, exist_ok=True)
    names = []
    for i in range(5):
        name = f"layer{i}.bin"
        make_file(10 * MIB, os.path.join("typical", name))
        names.append(name)
    log_path = os.environ["OPS_LOG"]
    ops_host = urllib.parse.urlsplit(os.environ["OPS_URL"]).netloc

    def counted(args_of_attempt):
        """The operations of the oras run that succeeded, not of attempts the proxy broke."""
        offset = 0

        def mark():
            nonlocal offset
            time.sleep(1)
            offset = os.path.getsize(log_path)

        attempt = oras(args_of_attempt, before_attempt=mark)
        time.sleep(1)
        with open(log_path) as f:
            f.seek(offset)
            lines = [l for l in f if l.startswith("storage ops ")]
        totals = {"class_a": 0, "class_b": 0, "kv_reads": 0, "kv_writes": 0, "requests": 0, "signed": 0}
        for line in lines:
            for key, value in re.findall(r"(\w+)=(\d+)", line):
                totals[key] += int(value)
            # In production a signed blob URL is served by R2, not by a worker request.
            if " /_blobs/" in line:
                totals["signed"] += 1
            else:
                totals["requests"] += 1
        return totals, attempt

    cwd = os.getcwd()
    os.chdir(directory)
    try:
        push, attempt = counted(lambda attempt: [
            "push", "--plain-http", *oras_login_args(OURS),
            f"{ops_host}/{pushed_to('bench/typical', attempt)}:v1", *names])
    finally:
        os.chdir(cwd)
    out = os.path.join(WORK, "pulled")
    reference = f"{ops_host}/{pushed_to('bench/typical', attempt)}:v1"
    pulled, _ = counted(lambda _: ["pull", "--plain-http", "-o", out, reference])
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(directory)
    for name, totals in (("push", push), ("pull", pulled)):
        cost = sum(totals[k] * PRICE[k] for k in ("class_a", "class_b", "kv_reads", "kv_writes"))
        cost += totals["requests"] * PRICE["request"]
        results["ops", name] = totals
        results["cost", name] = cost * 1000


# --- scanning ----------------------------------------------------------------------------

def layout_image(layout):
    """The one image of an OCI layout: (manifest bytes, its digest, [(blob path, digest)] of
    its config and layers, the layers' compressed and uncompressed sizes)."""
    with open(os.path.join(layout, "index.json")) as f:
        digest = json.load(f)["manifests"][0]["digest"]
    path = lambda d: os.path.join(layout, "blobs", *d.split(":"))
    with open(path(digest), "rb") as f:
        manifest = f.read()
    parsed = json.loads(manifest)
    layers = [layer["digest"] for layer in parsed["layers"]]
    blobs = [(path(d), d) for d in [parsed["config"]["digest"], *layers]]
    compressed = sum(os.path.getsize(path(d)) for d in layers)
    uncompressed = 0
    for d in layers:
        with gzip.open(path(d)) as f:
            while chunk := f.read(MIB):
                uncompressed += len(chunk)
    return manifest, digest, blobs, compressed, uncompressed


def deb_packages(cyclonedx):
    return sum(1 for c in cyclonedx.get("components", []) if c.get("purl", "").startswith("pkg:deb/"))


def syft_run(layout):
    """One `syft scan oci-dir:` of the layout: wall seconds, CPU seconds and peak RSS (MiB, and
    0 before it started) of the syft process (its own rusage, from wait4), and the deb
    packages it found."""
    out = os.path.join(WORK, "syft.json")
    start = time.monotonic()
    child = subprocess.Popen([os.environ["SYFT"], "scan", "-q", "-o", f"cyclonedx-json={out}",
                              f"oci-dir:{layout}"], env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"})
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    assert child.returncode == 0, f"syft exited {child.returncode}"
    with open(out) as f:
        packages = deb_packages(json.load(f))
    return wall, usage.ru_utime + usage.ru_stime, (usage.ru_maxrss / 1024, 0), packages


# A scan of the Debian image takes seconds; one not complete after this has stalled.
SCAN_TIMEOUT = 600


def registry_scan(repo, manifest, digest, blobs):
    """Pushes the image's blobs (not timed), then its manifest, which enqueues the scan, and
    polls GET /v2/<repo>/_scan/<digest> until the report is complete: the seconds from the
    manifest PUT to the complete report, workerd's CPU seconds over that time (the queue
    consumer, and the polls), its peak and prior resident memory (MiB: workerd holds the R2
    and KV simulators and the runtime too), and the report's component count. The
    worker's CPU cannot be told apart from the R2 simulator's, which runs in the same workerd."""
    for path, blob in blobs:
        push_whole(OURS, repo, path, blob)
    workerd = runtime_pids(OURS)
    reset_peak_rss(OURS)
    # Right after the reset, the peak is the resident memory before the scan.
    resident = peak_rss_mib(OURS)
    before = cpu_seconds(OURS, workerd)
    start = time.monotonic()
    response, body = request(OURS, "PUT", f"/v2/{repo}/manifests/v1", body=manifest,
                             headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert response.status == 201, (response.status, body[:200])
    while True:
        response, body = request(OURS, "GET", f"/v2/{repo}/_scan/{digest}")
        assert response.status == 200, (response.status, body[:300])
        report = json.loads(body)
        if report["status"] == "complete":
            break
        assert report["status"] in ("queued", "scanning"), report
        assert time.monotonic() - start < SCAN_TIMEOUT, f"no complete report after {SCAN_TIMEOUT} s: {report}"
        time.sleep(0.25)
    wall = time.monotonic() - start
    return wall, cpu_seconds(OURS, workerd) - before, (peak_rss_mib(OURS), resident), report["components"]


def scan_summary(figures):
    """Runs' (wall, cpu, (peak, resident), packages) as medians, the largest peak, the count."""
    walls, cpus, peaks, packages = zip(*figures)
    return statistics.median(walls), statistics.median(cpus), max(peaks), packages[0], len(figures)


def scan(results):
    """Cataloguing the same image, the scan tests' debootstrap Debian (one layer), with syft
    and with the registry (push to complete report, through its queue), RUNS times each."""
    layout = os.environ["SCAN_LAYOUT"]
    manifest, digest, blobs, compressed, uncompressed = layout_image(layout)
    results["scan image",] = (compressed, uncompressed)
    version = subprocess.run([os.environ["SYFT"], "version"], check=True, capture_output=True, text=True).stdout
    results["scan syft version",] = re.search(r"^Version:\s+(\S+)", version, re.M).group(1)
    syft_runs = []
    for i in range(RUNS):
        log(f"scan: syft, run {i + 1}")
        syft_runs.append(syft_run(layout))
    results["scan", "syft"] = scan_summary(syft_runs)
    ours_runs = []
    for i in range(RUNS):
        # A scan is done once per repository and digest: each run pushes to a new repository,
        # whatever the registry held before.
        log(f"scan: ours, run {i + 1}")
        ours_runs.append(registry_scan(f"bench/scan-{time.time_ns()}", manifest, digest, blobs))
    results["scan", OURS] = scan_summary(ours_runs)


def scan_table(results):
    compressed, uncompressed = results["scan image",]
    gib = uncompressed / (1024 * MIB)
    out = [f"Cataloguing the Debian bookworm minbase image of the scan tests (debootstrap; one layer, "
           f"{compressed / MIB:.0f} MiB gzip, {uncompressed / MIB:.0f} MiB of tar), median of {RUNS} runs; "
           f"ours from the manifest PUT to a complete report, through the queue:", ""]
    out.append("| cataloguer | wall s | CPU s | CPU s per GiB of tar | peak RSS MiB (growth) | packages |")
    out.append("|---|---|---|---|---|---|")
    syft = f"syft {results['scan syft version',]} (`scan oci-dir:`)"
    for name, label in (("syft", syft), (OURS, "ours (queue consumer, workerd)")):
        figures = results.get(("scan", name))
        if figures is None:
            out.append(f"| {label} | - | - | - | - | - |")
            continue
        wall, cpu, peak, packages, _ = figures
        peak, resident = peak
        out.append(f"| {label} | {wall:.1f} | {cpu:.1f} | {cpu / gib:.1f} | {peak:.0f} (+{peak - resident:.0f}) "
                   f"| {packages} |")
    ours, syft = results.get(("scan", OURS), (None, None)), results["scan", "syft"]
    out.append(f"| ours/syft | {fmt_ratio(ours[0], syft[0])} | {fmt_ratio(ours[1], syft[1])} | | | |")
    out.append("")
    return out


# --- pushing with the CLI ------------------------------------------------------------------

# The bench's image: a config and three random layers, about the size of a small service's.
CLI_LAYERS = (128 * MIB, 32 * MIB, 1 * MIB)
CLI_LIMIT = 8 * MIB


def write_layout(directory, layer_sizes):
    """An OCI layout holding one image tagged v1 with random layers of `layer_sizes`."""
    blobs = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blobs)

    def blob(media_type, data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    layers = [blob("application/vnd.oci.image.layer.v1.tar", os.urandom(size)) for size in layer_sizes]
    config = blob("application/vnd.oci.image.config.v1+json",
                  json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [
                      layer["digest"] for layer in layers]}}).encode())
    manifest = blob("application/vnd.oci.image.manifest.v1+json", json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": layers}).encode())
    manifest["annotations"] = {"org.opencontainers.image.ref.name": "v1"}
    with open(os.path.join(directory, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)


def cli_push(client, url, layout, repo):
    """One push of the layout's image with `client`: (exit status, wall seconds, the client's
    CPU seconds and peak RSS MiB from its own rusage, its stderr)."""
    netloc = urllib.parse.urlsplit(url).netloc
    env = dict(os.environ)
    if client == "skopeo":
        command = ["skopeo", "copy", "-q", "--retry-times=0", "--dest-tls-verify=false",
                   "--dest-creds", "admin:admin-password", f"oci:{layout}:v1", f"docker://{netloc}/{repo}:v1"]
    else:
        env["DOCKER_CONFIG"] = os.path.join(WORK, "docker-config")
        env["XDG_CACHE_HOME"] = os.path.join(WORK, "cache")
        command = [os.environ["EDGE_REGISTRY"], "push", "--quiet", "--insecure", f"oci:{layout}:v1",
                   f"{netloc}/{repo}:v1"]
    # Through GNU time: a child forked from this process would report this process's peak
    # memory (the layers it just wrote) as its own, since the peak survives exec.
    usage_file = os.path.join(WORK, "cli-usage")
    command = ["/usr/bin/time", "-f", "%U %S %M", "-o", usage_file, *command]
    start = time.monotonic()
    child = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - start
    with open(usage_file) as f:
        user, system, peak_kib = f.read().split()[-3:]
    return child.returncode, wall, float(user) + float(system), int(peak_kib) / 1024, child.stderr


def cli(results):
    """skopeo and `edge-registry push` pushing the same kind of image (fresh random layers each
    run) to the registry serving HTTPS without a body limit, then with an 8 MiB one, where
    skopeo, which sends each layer whole, is refused."""
    config = os.path.join(WORK, "docker-config")
    os.makedirs(config, exist_ok=True)
    with open(os.path.join(config, "config.json"), "w") as f:
        json.dump({"auths": {urllib.parse.urlsplit(url).netloc: {"auth": base64.b64encode(b"admin:admin-password").decode()}
                             for url in (os.environ["CLI_URL"], os.environ["CLI_LIMIT_URL"])}}, f)
    size = sum(CLI_LAYERS)
    results["cli image",] = size
    for limit, url in ((None, os.environ["CLI_URL"]), (CLI_LIMIT, os.environ["CLI_LIMIT_URL"])):
        for client in ("skopeo", "edge-registry"):
            runs, refusal = [], None
            for i in range(RUNS):
                for attempt in range(DEV_PROXY_ATTEMPTS):
                    layout = os.path.join(WORK, f"cli-layout-{time.time_ns()}")
                    write_layout(layout, CLI_LAYERS)
                    log(f"cli: {client}, {'no limit' if limit is None else 'limit'}, run {i + 1}")
                    status, wall, cpu, rss, stderr = cli_push(client, url, layout, f"bench/cli-{time.time_ns()}")
                    shutil.rmtree(layout)
                    if status == 0:
                        runs.append((wall, cpu, rss))
                        break
                    if "body limit" in stderr:
                        refusal = stderr.strip().splitlines()[-1]
                        break
                    log(f"{client} failed (attempt {attempt + 1}), made again: {stderr.strip()[:300]}")
                if refusal:
                    break
            if refusal:
                results["cli", client, limit] = ("refused", refusal)
            else:
                walls, cpus, rsss = zip(*runs)
                results["cli", client, limit] = (statistics.median(walls), statistics.median(cpus), max(rsss))


def cli_table(results):
    size = results["cli image",]
    layers = " + ".join(f"{layer // MIB} MiB" for layer in CLI_LAYERS)
    out = [f"Pushing an image of {size / MIB:.0f} MiB (random layers of {layers}) from an OCI layout to the "
           f"registry serving HTTPS, fresh layers each run, median of {RUNS} runs; the client's own CPU and "
           f"peak memory:", ""]
    out.append("| client | body limit | wall s | MiB/s | client CPU s | client peak RSS MiB |")
    out.append("|---|---|---|---|---|---|")
    for limit in (None, CLI_LIMIT):
        for client in ("skopeo", "edge-registry"):
            figures = results.get(("cli", client, limit))
            label = "none" if limit is None else f"{limit // MIB} MiB"
            if figures is None:
                out.append(f"| {client} | {label} | - | - | - | - |")
            elif figures[0] == "refused":
                out.append(f"| {client} | {label} | refused: 413 | | | |")
            else:
                wall, cpu, rss = figures
                out.append(f"| {client} | {label} | {wall:.2f} | {size / MIB / wall:.0f} | {cpu:.2f} | {rss:.0f} |")
    skopeo, ours = results.get(("cli", "skopeo", None)), results.get(("cli", "edge-registry", None))
    if skopeo and ours and skopeo[0] != "refused" and ours[0] != "refused":
        out.append(f"| edge-registry/skopeo | none | {fmt_ratio(ours[0], skopeo[0])} | | "
                   f"{fmt_ratio(ours[1], skopeo[1])} | {fmt_ratio(ours[2], skopeo[2])} |")
    out.append("")
    return out


HOOKS = "ours, failing webhook receiver"
HOOKS_PUSHES = 60


def failing_receiver(port, hits):
    """An HTTP server on loopback that answers every POST with 500, counting them."""
    import http.server
    import threading

    class Failing(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            hits.append(time.monotonic())
            self.send_response(500)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def push_small(server, repo, seed):
    """Pushes a small image (config and layer in monolithic POSTs, then the manifest by tag);
    the seconds of the whole push and of the manifest PUT."""
    config = json.dumps({"seed": seed}).encode()
    layer = f"layer {seed}\n".encode()
    start = time.monotonic()
    for blob in (config, layer):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        response, _ = request(server, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", body=blob)
        assert response.status == 201, response.status
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(), "size": len(layer)}],
    }).encode()
    put_start = time.monotonic()
    response, _ = request(server, "PUT", f"/v2/{repo}/manifests/v{seed}", body=manifest,
                          headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert response.status == 201, response.status
    end = time.monotonic()
    return end - start, end - put_start


def webhooks(results):
    """Push latency of small images to the registry without webhooks and to one whose every
    push is sent to a receiver that always fails (500): deliveries go through the queue and
    are retried there, so pushes must not slow down."""
    URL[HOOKS] = os.environ["HOOKS_URL"]
    AUTH[HOOKS] = ADMIN
    hits = []
    receiver = failing_receiver(int(os.environ["HOOKS_RECEIVER_PORT"]), hits)
    try:
        # Alternately, so that both see the same background (the machine's other work).
        figures = {OURS: ([], []), HOOKS: ([], [])}
        for server in (OURS, HOOKS):
            push_small(server, "bench/hooks-warm", 0)
        for i in range(HOOKS_PUSHES):
            for server in (OURS, HOOKS):
                log(f"webhooks: {server}, push {i + 1}")
                whole, put = push_small(server, f"bench/hooks-{time.time_ns()}", i + 1)
                figures[server][0].append(whole)
                figures[server][1].append(put)
        for server in (OURS, HOOKS):
            results["hooks", server] = figures[server]
        time.sleep(3)  # the first attempts of the last deliveries
        results["hooks receiver hits",] = len(hits)
    finally:
        receiver.shutdown()


def webhooks_table(results):
    def q(values, p):
        return sorted(values)[min(len(values) - 1, int(p * len(values)))] * 1000

    out = [f"Pushing {HOOKS_PUSHES} small images (two monolithic blob POSTs and a manifest PUT each), "
           f"alternately to each registry; the failing receiver got {results['hooks receiver hits',]} POSTs meanwhile:", ""]
    out.append("| registry | push p50 ms | push p90 ms | manifest PUT p50 ms | manifest PUT p90 ms |")
    out.append("|---|---|---|---|---|")
    for server, label in ((OURS, "no webhook receiver"), (HOOKS, "a receiver that always answers 500")):
        pushes, puts = results["hooks", server]
        out.append(f"| {label} | {q(pushes, .5):.1f} | {q(pushes, .9):.1f} | {q(puts, .5):.1f} | {q(puts, .9):.1f} |")
    out.append("")
    return out


def fmt_ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def ratio_cells(ours, *others):
    """The ratios ours/other of a table row, as cells."""
    return " | ".join(fmt_ratio(ours, other) for other in others)


def report(results):
    out = []
    has = lambda kind: any(k[0] == kind for k in results)
    if has("push"):
        out += throughput_table(results)
    if has("rps"):
        out += rps_table(results)
    if has("cpu push"):
        out += resource_table(results)
    if has("ops"):
        out += operations_table(results)
    if ("scan", "syft") in results:
        out += scan_table(results)
    if ("cli image",) in results:
        out += cli_table(results)
    if ("hooks receiver hits",) in results:
        out += webhooks_table(results)
    return "\n".join(out)


# What the ceiling worker does, beside each of the registry's raw pushes and pulls.
CEILING_PUSH = "raw, one put"
CEILING_PULL = f"raw GET (pushed: {CEILING_PUSH})"
STREAMED = "raw, one streamed PATCH"
WHOLE = "raw, POST + PUT of the whole blob"


def ceiling_of(kind, method):
    if not method.startswith("raw"):
        return None
    return CEILING_PUSH if kind == "push" else CEILING_PULL


def throughput_table(results):
    out = []
    out.append("| operation | blob | method | ours MiB/s | ceiling MiB/s | ceiling, multipart MiB/s | reference MiB/s "
               "| ours/ceiling | ours/ceiling, multipart | ours/reference |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    keys = sorted({k[:3] for k in results if k[0] in ("push", "pull") and k[3] in (OURS, REFERENCE)},
                  key=lambda k: (k[0] == "pull", int(k[1].split()[0]), k[2]))
    cell = lambda v: f"{v[0]:.1f}" + ("" if v[1] >= 3 else f" ({v[1]} run)") if v else "-"
    for kind, label, method in keys:
        ceiling_method = ceiling_of(kind, method)
        values = [results.get((kind, label, method, OURS)),
                  results.get((kind, label, ceiling_method, CEILING)),
                  results.get((kind, label, ceiling_method, CEILING_MULTIPART)),
                  results.get((kind, label, method, REFERENCE))]
        ours, ceiling, multipart, reference = (v[0] if v else None for v in values)
        out.append(f"| {kind} | {label} | {method} | " + " | ".join(cell(v) for v in values)
                   + f" | {ratio_cells(ours, ceiling, multipart, reference)} |")
    out.append("")
    return out


def rps_table(results):
    out = []
    out.append("| requests | concurrency | ours req/s (p50 / p99 ms) | reference req/s (p50 / p99 ms) | ceiling trivial GET req/s (p50 / p99 ms) | ours/ceiling | ours/reference |")
    out.append("|---|---|---|---|---|---|---|")
    names = sorted({k[1] for k in results if k[0] == "rps" and k[3] == OURS})
    for name in names:
        for c in sorted({k[2] for k in results if k[0] == "rps" and k[1] == name}):
            ours = results[("rps", name, c, OURS)]
            reference = results.get(("rps", name, c, REFERENCE))
            ceiling = results.get(("rps", "trivial GET (ceiling)", c, CEILING))
            cell = lambda v: f"{v[0]:.0f} ({v[1]:.1f} / {v[2]:.1f})" if v else "-"
            out.append(f"| {name} | {c} | {cell(ours)} | {cell(reference)} | {cell(ceiling)} | "
                       f"{ratio_cells(ours[0], ceiling and ceiling[0], reference and reference[0])} |")
    out.append("")
    return out


def resource_table(results):
    out = []
    out.append("| resource | ours | ceiling | ceiling, multipart | reference | ours/ceiling | ours/ceiling, multipart | ours/reference |")
    out.append("|---|---|---|---|---|---|---|---|")

    def row(unit, v, digits):
        out.append(f"| {unit} | " + " | ".join(f"{x:.{digits}f}" if x is not None else "-" for x in v)
                   + f" | {ratio_cells(*v)} |")

    def measured_row(unit, name, label, method, digits):
        row(unit, [results.get((name, label, method, OURS)),
                   results.get((name, label, CEILING_PUSH, CEILING)),
                   results.get((name, label, CEILING_PUSH, CEILING_MULTIPART)),
                   results.get((name, label, method, REFERENCE))], digits)

    gib = "1024 MiB"
    for method, how in ((STREAMED, "one streamed PATCH"), (WHOLE, "POST + PUT of the whole blob")):
        measured_row(f"CPU s per GiB pushed ({how}; ceiling: one put)", "cpu push", gib, method, 1)
        measured_row(f"CPU s per GiB pulled (blob pushed as {how})", "cpu pull", gib, method, 1)
    # One workerd process runs both ceilings; its peak is reset before each push.
    for label in ("64 MiB", gib):
        measured_row(f"peak RSS during a {label} streamed push (MiB)", "memory", label, STREAMED, 0)
    cold = {s: float(os.environ[f"COLD_START_{s.upper()}"]) for s in (OURS, CEILING, REFERENCE)}
    row("cold start: process start to first answer (s)", [cold[OURS], cold[CEILING], None, cold[REFERENCE]], 1)
    with open(os.environ["WASM"], "rb") as f:
        wasm = f.read()
    out.append(f"| wasm module, raw / gzip (KiB) | {len(wasm) / 1024:.0f} / {len(gzip.compress(wasm, 9)) / 1024:.0f} | - | - | - | - | - | - |")
    out.append("")
    return out


def operations_table(results):
    out = []
    out.append("Storage operations and Cloudflare cost of a typical image (5 layers of 10 MiB, config, manifest), pushed and pulled with oras:")
    out.append("")
    out.append("| | worker requests | R2 class A | R2 class B | KV reads | KV writes | signed URLs (served by R2) | USD per 1,000 |")
    out.append("|---|---|---|---|---|---|---|---|")
    for name in ("push", "pull"):
        t = results[("ops", name)]
        out.append(f"| {name} | {t['requests']} | {t['class_a']} | {t['class_b']} | {t['kv_reads']} | "
                   f"{t['kv_writes']} | {t['signed']} | {results[('cost', name)]:.4f} |")
    return out


def main():
    results = {}
    failed = False
    stages = [throughput, requests_per_second, storage_operations, scan, cli, webhooks]
    only = os.environ.get("ONLY")
    for stage in stages:
        if only and stage.__name__ not in only.split(","):
            continue
        start = time.monotonic()
        try:
            stage(results)
        except Exception as error:  # The other stages' figures are still worth printing.
            log(f"{stage.__name__} failed: {error!r}")
            failed = True
        log(f"{stage.__name__}: {time.monotonic() - start:.0f} s")
    print(report(results))
    sys.exit(1 if failed or FAILED_FIGURES else 0)


if __name__ == "__main__":
    main()
