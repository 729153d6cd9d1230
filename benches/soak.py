#!/usr/bin/env python3
"""Soak test of `toyz serve`: a long mixed load on one server, checking it neither crashes nor grows.

Builds its data in BENCH_DIR (default benches/out/soak): a 4096² float image, a 2048² image rewritten in
place every 20 s (truncate then write, as `cp` does), a copy of it that is `touch`ed, a 200k-row CSV
catalog. Starts target/release/toyz serve on a free loopback port with a fresh tile cache and runs, for
SOAK_SECONDS (default 1800), threads of: warm tiles (200 fixed URLs over keep-alive, latency kept); cold
renders (new stretch/cut/cmap/contrast specs, random tiles); WebSocket sessions (image.pixels, image.stats,
image.histogram, session.set of ~100 KB, catalog.load, image.cutout; sometimes dropping the socket
mid-job); file changes (rewrite, touch, re-open via /api/sources); PNG cutouts (/api/cutout); a client
sending 64 jobs of large replies it never reads; sessions holding session.set values at their limit;
connections sending a body a byte every 2 s (the server must time them out); the hostile compressed
files of toyz-skygen --hostile (each must be 422); and, against a second
server with accounts (--auth), bursts of 200 concurrent failed logins (some with 4 MB user names), whose
peak memory is judged apart against LOGIN_BUDGET_MIB (256).
Every 10 s: elapsed s, server RSS, tile cache size, requests, errors, busy, warm p99 of the interval; at
the end a summary and one JSON line. Errors: connection failures, 5xx other than 503, a 4xx the request
should not get, WebSocket errors other than busy/cancelled/too_large/not_found, worker exceptions (503 and
those kinds are counted apart). A server that exits is a crash and ends the run.

The RSS budget applies to the server's own memory (RssAnon + RssShmem from /proc/PID/status); the pages of
files it maps (RssFile: the FITS data and float levels it reads through memory maps, page cache the kernel
can drop at any time and shares with every other reader) are reported beside it. The budget is what the
server's settings promise: memory_cache (256 MiB) + memory_budget (512 MiB) +
sources_memory (512 MiB, the default) + 256 MiB for everything bounded by count (colour tables, catalog
rows, renders in flight, thread stacks) = 1536 MiB.

Goal: 0 crashes, 0 errors, peak RSS <= RSS_BUDGET_MIB (1536), cache <= DISK_BUDGET_MIB (1024), and warm
p99 of the last minute as of the first (a fresh server; reported, not judged). Exit 0 if all hold, else 1;
2 if it cannot run.

  SOAK_SECONDS=1800 benches/soak.py
  SOAK_SECONDS=60 TOYZ_SERVE_ARGS="--memory-cache 256MiB" benches/soak.py   # flags an older binary has

Needs target/release/toyz and toyz-skygen (cargo build --release -p toyz-cli -p toyz-skygen), Python 3,
websocket-client (pip install websocket-client). TOYZ_SERVE_ARGS (default "--memory-cache 256MiB
--cache-max 1GiB --memory-budget 512MiB") extends the server's command line; its log is BENCH_DIR/serve.log
(TOYZ_LOG=warn unless set).
"""
import http.client
import json
import math
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter, deque

try:
    import websocket
except ImportError:
    print("soak.py needs websocket-client: pip install websocket-client", file=sys.stderr)
    sys.exit(2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target", "release")
WORK = os.path.join(REPO, os.environ.get("BENCH_DIR", "benches/out/soak"))
DATA, CACHE = os.path.join(WORK, "data"), os.path.join(WORK, "cache")
SECONDS = float(os.environ.get("SOAK_SECONDS", 1800))
SERVE_ARGS = shlex.split(os.environ.get("TOYZ_SERVE_ARGS", "--memory-cache 256MiB --cache-max 1GiB --memory-budget 512MiB"))
RSS_BUDGET = float(os.environ.get("RSS_BUDGET_MIB", 1536))
DISK_BUDGET = float(os.environ.get("DISK_BUDGET_MIB", 1024))
BIG, CHANGING, TOUCHED, CATALOG = "soak/big.fits", "soak/changing.fits", "soak/touched.fits", "soak/catalog.csv"
THREADS = {"change": 1, "warm": 2, "cold": 1, "ws": 2, "cutout": 1, "unread": 1, "state": 1, "slow": 1,
           "hostile": 1}
REPORT_EVERY, CHANGE_EVERY, WARM_URLS = 10, 20, 200
STRETCHES = ["linear", "sqrt", "squared", "log", "asinh%3D0.1", "power%3D2", "sinh", "histeq"]
CUTS = ["zscale", "minmax", "percentile%3D99.5", "percentile%3D1,99"]
CMAPS = ["grey", "viridis", "inferno", "magma", "plasma", "heat", "cool", "turbo", "cubehelix", "viridis_r"]
WS_TOLERATED = {"busy", "cancelled", "too_large", "not_found"}

stop = threading.Event()


class Stats:
    """Counters shared by the workers, and warm-tile latencies by interval, first and last minute."""

    def __init__(self):
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.requests, self.errors, self.refused = Counter(), Counter(), Counter()
        self.busy = 0
        self.interval, self.first_minute, self.last_minute = [], [], deque()

    def request(self, kind):
        with self.lock:
            self.requests[kind] += 1

    def error(self, kind, detail):
        with self.lock:
            self.errors[kind] += 1
            n = sum(self.errors.values())
        if n <= 20:
            print(f"  error ({kind}): {detail[:300]}", file=sys.stderr, flush=True)

    def refuse(self, kind):
        with self.lock:
            if kind in ("http 503", "ws busy"):
                self.busy += 1
            else:
                self.refused[kind] += 1

    def warm(self, seconds):
        now = time.monotonic()
        with self.lock:
            self.interval.append(seconds)
            if now - self.t0 < 60:
                self.first_minute.append(seconds)
            self.last_minute.append((now, seconds))
            while self.last_minute[0][0] < now - 60:
                self.last_minute.popleft()

    def take_interval(self):
        with self.lock:
            out, self.interval = self.interval, []
        return out


stats = Stats()


def p99_ms(values):
    values = sorted(values)
    return round(values[math.ceil(0.99 * len(values)) - 1] * 1000, 2) if values else None


class Http:
    """One keep-alive connection; a request on a connection the server has since closed is retried once."""

    def __init__(self, port):
        self.port, self.conn = port, None

    def get(self, path):
        while True:
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=180)
            try:
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                body = r.read()
                if r.will_close:
                    self.close()
                return r.status, body
            except Exception as e:
                self.close()
                if fresh or not isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    raise

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None


def fetch(h, kind, path, soft=()):
    """GET and count the answer: 200 fine, 503 busy, `soft` statuses tolerated, anything else an error."""
    try:
        status, body = h.get(path)
    except (OSError, http.client.HTTPException) as e:
        stats.error(f"{kind} connection", f"GET {path}: {e!r}")
        return None, None
    stats.request(kind)
    if status == 503:
        stats.refuse("http 503")
    elif status in soft:
        stats.refuse(f"http {status}")
    elif status != 200:
        stats.error(f"{kind} http {status}", f"GET {path}: {body[:200]!r}")
    return status, body


def open_source(h, kind, path, spec, soft=()):
    status, body = fetch(h, kind, f"/api/sources?path={urllib.parse.quote(path)}&{spec}", soft)
    return json.loads(body) if status == 200 else None


def tile_urls(src, levels=None):
    w, h, zmax, out = src["width"], src["height"], src["zmax"], []
    for z in range(zmax + 1) if levels is None else levels:
        side = 256 << (zmax - z)
        for x in range(math.ceil(w / side)):
            for y in range(math.ceil(h / side)):
                out.append(src["tiles"].replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y)))
    return out


def random_spec(rng):
    return (f"stretch={rng.choice(STRETCHES)}&cut={rng.choice(CUTS)}&cmap={rng.choice(CMAPS)}"
            f"&contrast={rng.uniform(0.3, 3):.4f}")


def worker(name, body, *args):
    """Run body until stop; an exception it does not expect counts as an error and the loop goes on."""
    def run():
        while not stop.is_set():
            try:
                body(*args)
            except Exception as e:  # noqa: BLE001 - the soak counts it and carries on
                stats.error(f"{name} exception", repr(e))
                stop.wait(1)
    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    return t


def warm_loop(port, urls):
    h, rng = Http(port), random.Random()
    while not stop.is_set():
        t = time.monotonic()
        status, _ = fetch(h, "warm", rng.choice(urls))
        if status == 200:
            stats.warm(time.monotonic() - t)
        elif status is None or status == 503:
            stop.wait(0.1)


def cold_loop(port):
    h, rng = Http(port), random.Random()
    while not stop.is_set():
        path = rng.choice([BIG, BIG, BIG, CHANGING, TOUCHED])
        soft = () if path == BIG else (404, 422)  # a file being rewritten: old URLs 404, a short file 422
        src = open_source(h, "cold", path, random_spec(rng), soft)
        if not src:
            stop.wait(0.5)
            continue
        urls = tile_urls(src)
        for url in rng.sample(urls, min(8, len(urls))):
            if stop.is_set() or fetch(h, "cold", url, soft)[0] == 503:
                stop.wait(0.2)


def cutout_loop(port, big):
    h, rng = Http(port), random.Random()
    while not stop.wait(rng.uniform(0.5, 2)):
        q = {"path": BIG, "format": "png", "cmap": rng.choice(CMAPS), "stretch": "asinh", "cut": "zscale"}
        if big.get("wcs") and rng.random() < 0.3:
            ra, dec = big["wcs"]["center"]
            q.update(ra=ra + rng.uniform(-0.1, 0.1), dec=dec + rng.uniform(-0.1, 0.1), size=rng.uniform(10, 200))
        else:
            q.update(x=rng.randint(1, big["width"]), y=rng.randint(1, big["height"]),
                     w=rng.randint(16, 1024), h=rng.randint(16, 1024))
        fetch(h, "cutout", "/api/cutout?" + urllib.parse.urlencode(q))


def change_loop(port):
    """Every CHANGE_EVERY s: rewrite one file in place from the other variant, touch the copy, re-open both."""
    h, n = Http(port), 0
    while not stop.wait(CHANGE_EVERY):
        n += 1
        shutil.copyfile(os.path.join(WORK, f"changing-{n % 2}.fits"), os.path.join(DATA, "changing.fits"))
        os.utime(os.path.join(DATA, "touched.fits"))
        for path in (CHANGING, TOUCHED):
            src = open_source(h, "change", path, "stretch=asinh&cut=zscale&cmap=grey")
            for url in tile_urls(src, [0, 1]) if src else []:
                fetch(h, "change", url, soft=(404,))


def ws_job(rng, big):
    img, w, h = {"path": BIG}, big["width"], big["height"]
    return rng.choice([
        ("image.pixels", {**img, "points": [[rng.uniform(1, w), rng.uniform(1, h)] for _ in range(1000)]}),
        ("image.stats", img),
        ("image.histogram", {**img, "bins": rng.choice([64, 256, 4096])}),
        ("session.set", {"key": f"k{rng.randrange(10)}", "value": [round(rng.random(), 12) for _ in range(7000)]}),
        ("catalog.load", {"path": CATALOG}),
        ("image.cutout", {**img, "x": rng.uniform(1, w), "y": rng.uniform(1, h), "w": 300, "h": 200}),
    ])


def ws_session(ws, rng, big):
    first = json.loads(ws.recv())
    if first.get("event") != "session.ready":
        stats.error("ws protocol", f"first message {first}")
    for n in range(rng.randint(5, 25)):
        if stop.is_set():
            return
        if rng.random() < 0.1:  # leave in the middle of heavy jobs, politely or not
            for i, job in enumerate(["image.stats", "catalog.load"]):
                params = {"path": CATALOG} if job == "catalog.load" else {"path": BIG}
                ws.send(json.dumps({"id": f"gone-{i}", "job": job, "params": params}))
            time.sleep(rng.uniform(0, 0.3))
            if rng.random() < 0.5:
                ws.close(timeout=2)  # a close frame
            else:
                ws.shutdown()  # the TCP connection just goes away
            stats.request("ws")
            return
        job, params = ws_job(rng, big)
        ws.send(json.dumps({"id": n, "job": job, "params": params}))
        while True:
            reply = json.loads(ws.recv())
            if reply.get("id") == n and reply.get("status") != "progress":
                break
        stats.request("ws")
        if reply.get("status") == "error":
            kind = reply["error"]["kind"]
            if kind in WS_TOLERATED:
                stats.refuse(f"ws {kind}")
            else:
                stats.error(f"ws {job} {kind}", reply["error"].get("message", ""))
        elif reply.get("status") != "ok":
            stats.error(f"ws {job} protocol", json.dumps(reply)[:300])


def ws_loop(port, big):
    rng = random.Random()
    while not stop.is_set():
        try:
            ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=180)
        except (OSError, websocket.WebSocketException) as e:
            stats.error("ws connection", repr(e))
            stop.wait(1)
            continue
        try:
            ws_session(ws, rng, big)
        except (OSError, websocket.WebSocketException) as e:
            stats.error("ws connection", repr(e))
        finally:
            ws.shutdown()


def hostile_loop(port):
    """The crafted tile-compressed files that killed cfitsio (toyz-skygen --hostile): each must be
    answered 422 bad_fits, and the server must stay up."""
    h, rng = Http(port), random.Random()
    names = sorted(os.listdir(os.path.join(DATA, "hostile")))
    while not stop.wait(rng.uniform(1, 3)):
        name = rng.choice(names)
        for q in [f"/api/sources?path=soak/hostile/{name}", f"/api/pixel?path=soak/hostile/{name}&x=3&y=4"]:
            fetch(h, "hostile", q, soft=(422,))


def unread_loop(port, big):
    """A client that sends 64 jobs with large replies and never reads them, holds the socket ~20 s,
    then leaves: the server must hold back its jobs (replies wait under the session's byte limit)."""
    rng = random.Random()
    w, h = big["width"], big["height"]
    while not stop.is_set():
        try:
            ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=30)
        except (OSError, websocket.WebSocketException) as e:
            stats.error("unread connection", repr(e))
            stop.wait(1)
            continue
        try:
            for n in range(64):
                pts = [[rng.uniform(1, w), rng.uniform(1, h)] for _ in range(10000)]
                ws.send(json.dumps({"id": n, "job": "image.pixels", "params": {"path": BIG, "points": pts}}))
            stats.request("unread")
            stop.wait(20)
        except (OSError, websocket.WebSocketException):
            pass  # the server may close a socket that reads nothing: that is its right
        finally:
            ws.shutdown()


def state_loop(port):
    """Sessions that keep their session.set values at the limit (1 MiB of JSON in a few keys of many
    small numbers, the form that costs most once parsed) and stay open."""
    rng = random.Random()
    while not stop.is_set():
        try:
            ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=60)
            json.loads(ws.recv())
            for k in range(4):
                value = [round(rng.random(), 6) for _ in range(28000)]  # ~250 KB of JSON
                ws.send(json.dumps({"id": k, "job": "session.set", "params": {"key": f"k{k}", "value": value}}))
                while json.loads(ws.recv()).get("id") != k:
                    pass
                stats.request("state")
            stop.wait(15)
            ws.close(timeout=2)
        except (OSError, websocket.WebSocketException) as e:
            stats.error("state connection", repr(e))
            stop.wait(1)


def slow_loop(port):
    """Connections that send a request body a byte every 2 s: the server must close them (it times
    bodies out), not keep them."""
    while not stop.is_set():
        conns = []
        for _ in range(20):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 1000\r\n\r\n{")
                conns.append(s)
            except OSError as e:
                stats.error("slow connection", repr(e))
        stats.request("slow")
        for _ in range(15):
            if stop.wait(2):
                break
            for s in list(conns):
                try:
                    s.sendall(b" ")
                except OSError:
                    conns.remove(s)  # closed by the server: as it should
        for s in conns:
            s.close()


LOGIN_BUDGET_MIB = 256
login_peak = [0.0]


def start_auth_server():
    """A second server, with accounts, for the failed-login bursts (the main one runs without)."""
    adir = os.path.join(WORK, "auth")
    shutil.rmtree(adir, ignore_errors=True)
    os.makedirs(adir)
    db = os.path.join(adir, "toyz.sqlite")
    subprocess.run([os.path.join(BIN, "toyz"), "user", "add", "soak", "--admin", "--db", db],
                   input=b"soak password\n", check=True, stdout=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(os.path.join(adir, "serve.log"), "w")
    proc = subprocess.Popen([os.path.join(BIN, "toyz"), "serve", "--auth", "--db", db, "--root", f"soak={DATA}",
                             "--bind", f"127.0.0.1:{port}", "--cache", os.path.join(adir, "cache")],
                            stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if Http(port).get("/healthz")[0] == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    sys.exit("toyz serve --auth did not answer /healthz within 60 s")


def login_loop(port, pid):
    """Bursts of 200 concurrent failed logins: 401, 429 (throttled), 400 (a 3 MB name), 413 (a body over
    the 4 MiB JSON limit), 503 (all hashing slots busy for 10 s) are answers; the memory of the
    accounts server is watched. All come from one address, so after the first few attempts the
    throttle answers before anything is hashed."""
    rng = random.Random()
    huge = "x" * (3 << 20)

    def one(i):
        name = huge if i % 10 == 0 else f"user{rng.randrange(100)}"
        body = json.dumps({"user": name, "password": "wrong password"}).encode()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            c.request("POST", "/api/login", body, {"Content-Type": "application/json"})
            st = c.getresponse().status
            c.close()
            stats.request("login")
            if st not in (400, 401, 413, 429, 503):
                stats.error(f"login http {st}", "")
        except (OSError, http.client.HTTPException) as e:
            stats.error("login connection", repr(e))

    while not stop.is_set():
        ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(200)]
        for t in ts:
            t.start()
        while any(t.is_alive() for t in ts):
            login_peak[0] = max(login_peak[0], rss_mib(pid)[0])
            time.sleep(0.05)
        login_peak[0] = max(login_peak[0], rss_mib(pid)[0])
        stop.wait(10)


def prepare_data():
    os.makedirs(DATA, exist_ok=True)
    gen = os.path.join(BIN, "toyz-skygen")
    if not os.path.isdir(os.path.join(DATA, "hostile")):
        subprocess.run([gen, "--hostile", os.path.join(DATA, "hostile")], check=True, stdout=subprocess.DEVNULL)
    for out, size, seed in [(os.path.join(DATA, "big.fits"), 4096, 1), (os.path.join(WORK, "changing-0.fits"), 2048, 2),
                            (os.path.join(WORK, "changing-1.fits"), 2048, 3)]:
        if not os.path.exists(out):
            subprocess.run([gen, out, "--size", f"{size}x{size}", "--nan-patches", "--seed", str(seed)],
                           check=True, stdout=subprocess.DEVNULL)
    shutil.copyfile(os.path.join(WORK, "changing-0.fits"), os.path.join(DATA, "changing.fits"))
    shutil.copyfile(os.path.join(WORK, "changing-0.fits"), os.path.join(DATA, "touched.fits"))
    csv = os.path.join(DATA, "catalog.csv")
    if not os.path.exists(csv):
        rng = random.Random(1)  # around toyz-skygen's centre, 150.1 +2.2; a 4096² image spans 0.3°
        with open(csv + ".tmp", "w") as f:
            f.write("ra,dec,flux\n")
            for _ in range(200_000):
                f.write(f"{rng.uniform(149.8, 150.4):.7f},{rng.uniform(1.9, 2.5):.7f},{rng.lognormvariate(8, 1.5):.2f}\n")
        os.replace(csv + ".tmp", csv)


def start_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shutil.rmtree(CACHE, ignore_errors=True)
    cmd = [os.path.join(BIN, "toyz"), "serve", "--root", f"soak={DATA}", "--bind", f"127.0.0.1:{port}",
           "--cache", CACHE, *SERVE_ARGS]
    log = open(os.path.join(WORK, "serve.log"), "w")
    env = {**os.environ, "TOYZ_LOG": os.environ.get("TOYZ_LOG", "warn")}
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = open(log.name).read().strip()
            line = next((l for l in text.splitlines() if "error" in l), text)
            print(f"toyz serve exited at start ({proc.returncode}): {line}", file=sys.stderr)
            if "unexpected argument" in text or "unknown" in text:
                print(f"TOYZ_SERVE_ARGS={shlex.join(SERVE_ARGS)!r} names a flag this binary does not have; "
                      "try TOYZ_SERVE_ARGS='--memory-cache 256MiB'", file=sys.stderr)
            sys.exit(2)
        try:
            if Http(port).get("/healthz")[0] == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    sys.exit("toyz serve did not answer /healthz within 60 s")


def rss_mib(pid):
    """(own, mapped files) resident MiB: RssAnon + RssShmem, and RssFile."""
    own, files = 0.0, 0.0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssShmem:")):
                    own += int(line.split()[1]) / 1024
                elif line.startswith("RssFile:"):
                    files = int(line.split()[1]) / 1024
    except OSError:
        pass
    return own, files


def dir_mib(path):
    total, todo = 0, [path]
    while todo:
        try:
            with os.scandir(todo.pop()) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            todo.append(e.path)
                        else:
                            total += e.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        pass
        except (FileNotFoundError, NotADirectoryError):
            pass
    return total / 2**20


def warm_set(proc, port):
    """The fixed warm URLs: every tile above full resolution plus random full-resolution ones, once each."""
    h = Http(port)
    spec = "stretch=asinh&cut=zscale&cmap=grey"
    deadline = time.monotonic() + 300
    while True:
        src = open_source(h, "setup", BIG, spec)
        if src and src["levels"]["state"] == "ready":
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("toyz serve exited, or the 4096² image's levels were not ready after 300 s")
        time.sleep(0.5)
    low = tile_urls(src, range(src["zmax"]))
    urls = low + random.Random(1).sample(tile_urls(src, [src["zmax"]]), WARM_URLS - len(low))
    for url in urls:
        while fetch(h, "setup", url)[0] == 503:
            time.sleep(0.1)
    return src, urls


def soak(proc, port):
    big, urls = warm_set(proc, port)
    print(f"soak: {SECONDS:.0f} s against toyz serve {shlex.join(SERVE_ARGS)} (pid {proc.pid}, port {port}), "
          f"{len(urls)} warm tiles; work dir {WORK}", flush=True)
    with stats.lock:  # the clock (and the "first minute") starts once the warm set is in memory
        stats.t0 = time.monotonic()
    loops = {"change": (change_loop, port), "warm": (warm_loop, port, urls), "cold": (cold_loop, port),
             "ws": (ws_loop, port, big), "cutout": (cutout_loop, port, big), "unread": (unread_loop, port, big),
             "state": (state_loop, port), "slow": (slow_loop, port), "hostile": (hostile_loop, port)}
    workers = [worker(f"{name}{i}", *loops[name]) for name, n in THREADS.items() for i in range(n)]
    crashed, interrupted, max_rss, max_file, max_disk, next_report = False, False, 0.0, 0.0, 0.0, REPORT_EVERY

    def report():
        nonlocal max_disk
        disk = dir_mib(CACHE)
        max_disk = max(max_disk, disk)
        with stats.lock:
            reqs, errs, busy = sum(stats.requests.values()), sum(stats.errors.values()), stats.busy
        p99 = p99_ms(stats.take_interval())
        own, files = rss_mib(proc.pid)
        print(f"{time.monotonic() - stats.t0:6.0f} {own:8.1f} {files:8.1f} {disk:9.1f} {reqs:9d} {errs:7d} "
              f"{busy:6d} {'-' if p99 is None else p99:>12}", flush=True)

    print(f"{'t s':>6} {'rss MiB':>8} {'file MiB':>8} {'disk MiB':>9} {'requests':>9} {'errors':>7} {'busy':>6} "
          f"{'warm p99 ms':>12}")
    try:
        while True:
            elapsed = time.monotonic() - stats.t0
            if proc.poll() is not None:
                crashed = True
                print(f"CRASH: toyz serve exited with {proc.returncode} after {elapsed:.0f} s; "
                      f"log tail:\n{open(os.path.join(WORK, 'serve.log')).read()[-3000:]}", flush=True)
                break
            own, files = rss_mib(proc.pid)
            max_rss, max_file = max(max_rss, own), max(max_file, files)
            if elapsed >= SECONDS:
                report()
                break
            if elapsed >= next_report:
                report()
                next_report += REPORT_EVERY
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted", flush=True)
        report()
    stop.set()
    for t in workers:
        t.join(5)
    return summary(time.monotonic() - stats.t0, crashed, max_rss, max_file, max_disk), interrupted


def summary(seconds, crashed, max_rss, max_file, max_disk):
    with stats.lock:
        errors, requests = sum(stats.errors.values()), sum(stats.requests.values())
        first, last = p99_ms(stats.first_minute), p99_ms([s for _, s in stats.last_minute])
        print("== soak summary")
        print(f"  seconds      {seconds:.0f}, crashes {int(crashed)}")
        print(f"  requests     {requests}: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.requests.items())))
        print(f"  errors       {errors}" + "".join(f"\n    {v:6d}  {k}" for k, v in stats.errors.most_common()))
        print(f"  busy         {stats.busy} (HTTP 503 and WebSocket busy)")
        print("  tolerated    " + (", ".join(f"{k} {v}" for k, v in sorted(stats.refused.items())) or "none"))
    print(f"  peak RSS     {max_rss:.1f} MiB own (budget {RSS_BUDGET:.0f}), {max_file:.1f} MiB of mapped files")
    print(f"  peak cache   {max_disk:.1f} MiB (budget {DISK_BUDGET:.0f})")
    print(f"  logins       peak {login_peak[0]:.1f} MiB own of the accounts server under failed-login bursts "
          f"(budget {LOGIN_BUDGET_MIB})")
    print(f"  warm p99     first minute {first} ms, last minute {last} ms")
    result = {"seconds": round(seconds, 1), "crashes": int(crashed), "errors": errors, "busy": stats.busy,
              "max_rss_mib": round(max_rss, 1), "rss_budget_mib": RSS_BUDGET, "max_rss_file_mib": round(max_file, 1), "max_disk_mib": round(max_disk, 1),
              "disk_budget_mib": DISK_BUDGET, "warm_p99_ms_first_minute": first, "warm_p99_ms_last_minute": last,
              "requests": requests, "login_peak_mib": round(login_peak[0], 1)}
    ok = (not crashed and errors == 0 and max_rss <= RSS_BUDGET and max_disk <= DISK_BUDGET
          and login_peak[0] <= LOGIN_BUDGET_MIB)
    print("  verdict      " + ("PASS" if ok else "FAIL"))
    print(json.dumps(result), flush=True)
    return ok


def main():
    sys.setswitchinterval(0.001)  # shorter GIL hand-offs: less client-side noise in the warm latencies
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    prepare_data()
    proc, port = start_server()
    aproc, aport = start_auth_server()
    worker("login0", login_loop, aport, aproc.pid)
    try:
        ok, interrupted = soak(proc, port)
    except KeyboardInterrupt:
        ok, interrupted = False, True
    finally:
        stop.set()
        aproc.terminate()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    sys.exit(130 if interrupted else 0 if ok else 1)


if __name__ == "__main__":
    main()
