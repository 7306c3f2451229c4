"""Router overhead: what the router adds to a client talking to a site directly.

Three processes on this machine: one site (`georoute site`, H100, Llama 3.1 8B), the
router (`georoute router`, network simulation off) and this client. The site stamps
every chunk with the scheduled time of its last token (request extension
`"georoute": {"timing": true}`, `time.monotonic()` of the site, a system-wide clock),
so the client measures each chunk's lateness = arrival - scheduled time. Run the same
closed loop of N concurrent streams direct to the site and through the router; the
router-added time is the difference of the lateness distributions (first chunk:
TTFT; last chunk: end to end; all chunks).

Two clocks for "arrival" (the default `--client socket`, tests/perf/sockstamp.py):
- at the client's socket: the kernel's receive timestamp (SO_TIMESTAMPNS), what a client
  on a host of its own sees. This is the router-added time the targets are about;
- read by the client process: that plus this process's wait for a CPU. On 2 CPUs the
  client shares one with the site: the site's own writes wake it at once (a same-CPU
  sync wakeup), but a chunk the router writes from the other CPU wakes it behind the
  site's time slice (EEVDF, 1.4 ms on 2 CPUs), so a first chunk, written while the site
  is in a burst, reads up to ~1.5 ms later through the router than direct. `--perf-sched`
  shows it (tests/perf/schedlat.py: each process's wait for a CPU when woken, per layout
  and path: the client's p90 0.016 ms direct vs 1.06 ms through the router in one run);
  `--client-slice-us 100` gives this client a short slice and the gap goes.
`--client aiohttp` streams with aiohttp's client (read times only, the figures of
earlier runs).

Two CPU layouts by default, alternated round by round so both see the same (shared, noisy)
machine (`--affinity` picks one or both; every figure is printed under its layout):
- `unpinned`: every process may run on every CPU (the scheduler decides);
- `pinned`: the router (every thread of it, and the bare relay of `--floor`) alone on the
  first CPU, the site and this client on the second (os.sched_setaffinity): a
  documented deployment choice, the router never waits for a CPU behind the site;
- `site-apart` (`--affinity site-apart` or `all`): the site alone on the first CPU, the
  router and this client on the second (every hop then queues behind the client's reads:
  even the bare relay adds ~1.3 ms p50 there).

Then requests/s for short non-streamed requests (1 output token) through the router,
in the pinned layout: the router alone on one core (and per router CPU-second).

Event loops: `--router-loop`, `--site-loop` and `--client-loop` (uvloop by default
everywhere; `georoute site` and `georoute router` pick theirs from
GEOROUTE_EVENT_LOOP, which this script sets per process).

    .venv/bin/python tests/perf/bench_router_overhead.py [--streams 200] [--seconds 12]
        [--affinity both|all|pinned|unpinned|site-apart] [--lockstep]
        [--client socket|aiohttp] [--client-slice-us US] [--router-loop asyncio]
        [--site-loop asyncio] [--client-loop asyncio] [--floor] [--baseline-rev REV]

`--floor` adds a path through a bare byte relay (no HTTP, no logic): what any
extra Python process on the path costs on this machine, the floor under the router.
`--baseline-rev REV` adds a path through the router of git revision REV (extracted with
`git archive` to a temporary directory, run from there): before/after figures for a
change to the router, from the same run. `--router-env KEY=VALUE` (repeatable) sets an
environment variable for the router only (not for the base router): with
`--baseline-rev HEAD`, an A/B of a runtime setting. `--gc-probe` times every cyclic-GC collection in
the router (and the base router) on the collecting thread's CPU clock after start-up
(tests/perf/gcprobe) and prints counts and pause percentiles per generation at the end.
`--gil-demo` only shows, in this
process, what a pure-Python worker thread (like the router's stats snapshot) does to an
event loop's lag at CPython's GIL switch interval (5 ms) and at the router's (0.5 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import tempfile
import time
from argparse import SUPPRESS
from pathlib import Path

import aiohttp
import numpy as np
from revtree import extract_rev  # tests/perf/revtree.py, beside this script
from schedlat import SchedRecording  # beside this script
from sockstamp import StreamConnection, realtime_minus_monotonic  # beside this script

from sites.server.runner import run_event_loop

MODEL = "llama-3.1-8b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_ready(url: str, timeout_s: float = 60.0, *, sites_healthy: bool = False) -> None:
    """Until `url` answers 200 (and, for the router, until its health poll has seen the
    site up: a router started before the site first sees it down)."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url) as r:
                    if r.status == 200 and (
                        not sites_healthy
                        or all(h == "healthy" for h in (await r.json())["sites"].values())
                    ):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


async def one_stream(
    s: aiohttp.ClientSession, url: str, tokens: int, router_ms: list[float] | None = None
) -> list[float]:
    """Each chunk's lateness (ms); the router's own `router_ms` (handler start to
    forward, plus final-chunk rewrite) from the final chunk's breakdown into `router_ms`:
    the time before forwarding is invisible in lateness (the site schedules the first
    token from the request's arrival at the site), so it is reported beside it."""
    body = stream_body(tokens)
    late: list[float] = []
    headers = {"X-Client-Location": "Paris"}
    async with s.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
        r.raise_for_status()
        async for line in r.content:
            now = time.monotonic()
            i = line.rfind(b'"georoute_t":')
            if i >= 0:  # cheaper than json.loads: keep the client's own cost low
                end = i + 13
                while line[end] in b"0123456789.":
                    end += 1
                late.append((now - float(line[i + 13 : end])) * 1000.0)
            if router_ms is not None and (j := line.find(b'"router_ms":')) >= 0:
                end = j + 12
                while line[end] in b"0123456789.e-":
                    end += 1
                router_ms.append(float(line[j + 12 : end]))
    return late


def stream_body(tokens: int) -> dict[str, object]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "bench"}],
        "max_tokens": tokens,
        "stream": True,
        "georoute": {"timing": True, "prompt_tokens": 100, "output_tokens": tokens},
    }


MEASURES = ("first", "last", "every")


async def stream_load(
    url: str,
    streams: int,
    seconds: float,
    tokens: int,
    *,
    lockstep: bool = False,
    seed: int = 0,
    client: str = "socket",
) -> dict[str, np.ndarray]:
    """A closed loop of `streams` workers. Unless `lockstep`, each worker starts at a
    random offset within the first half second and every stream's length is drawn from
    tokens/2..3*tokens/2, so the streams do not all start and end in the same instant
    (in lockstep every round is a burst of `streams` arrivals and of `streams` endings,
    which measures burst throughput rather than the cost a stream pays per hop).

    Lateness per chunk as read by this process (keys first, last, every) and, with the
    `socket` client, as it reached this process's socket (sock_first, ...)."""
    out: dict[str, list[float]] = {
        k: [] for k in (*MEASURES, *(f"sock_{m}" for m in MEASURES), "router_ms")
    }

    def keep(prefix: str, late: list[float]) -> None:
        if late:
            out[f"{prefix}first"].append(late[0])
            out[f"{prefix}last"].append(late[-1])
            out[f"{prefix}every"].extend(late)

    rng = np.random.default_rng(seed)
    stop_at = time.monotonic() + seconds
    host, port = url.removeprefix("http://").rsplit(":", 1)
    offset = realtime_minus_monotonic()
    headers = {"X-Client-Location": "Paris"}

    async def worker(s: aiohttp.ClientSession | None) -> None:
        conn = StreamConnection(host, int(port), offset) if s is None else None
        if not lockstep:
            await asyncio.sleep(float(rng.uniform(0.0, 0.5)))
        try:
            while time.monotonic() < stop_at:
                n = tokens if lockstep else int(rng.integers(tokens // 2, tokens * 3 // 2 + 1))
                if conn is None:
                    assert s is not None
                    keep("", await one_stream(s, url, n, out["router_ms"]))
                    continue
                body = json.dumps(stream_body(n)).encode()
                rows = await conn.post("/v1/chat/completions", body, headers)
                keep("", [(read - stamp) * 1000.0 for stamp, _, read in rows])
                keep("sock_", [(at - stamp) * 1000.0 for stamp, at, _ in rows])
                if conn.router_ms is not None:
                    out["router_ms"].append(conn.router_ms)
        finally:
            if conn is not None:
                conn.close()

    if client == "socket":
        await asyncio.gather(*(worker(None) for _ in range(streams)))
    else:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as s:
            await asyncio.gather(*(worker(s) for _ in range(streams)))
    return {k: np.asarray(v) for k, v in out.items()}


async def short_requests(url: str, workers: int, seconds: float) -> int:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 1}
    done = 0
    stop_at = time.monotonic() + seconds
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as s:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop_at:
                async with s.post(
                    url + "/v1/chat/completions", json=body, headers={"X-Client-Location": "Paris"}
                ) as r:
                    await r.read()
                    if r.status == 200:
                        done += 1

        await asyncio.gather(*(worker() for _ in range(workers)))
    return done


async def serve_relay(port: int, target_port: int) -> None:
    """A bare byte relay: one upstream connection per client connection, no parsing.
    What it adds is the floor for any extra process on the path (two more socket hops
    and two more wake-ups of a Python event loop per chunk)."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                if writer.transport.get_write_buffer_size() > 1 << 20:
                    await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def gil_demo(busy_ms: float = 30.0, seconds: float = 2.0) -> None:
    """Loop lag (a 1 ms sleep's overshoot) beside a worker thread running `busy_ms` of
    pure Python every 100 ms, at two GIL switch intervals, alternated."""

    def busy() -> None:
        end = time.perf_counter() + busy_ms / 1000.0
        while time.perf_counter() < end:
            sum(range(200))

    async def measure() -> np.ndarray:
        lags: list[float] = []
        stop_at = time.perf_counter() + seconds

        async def tick() -> None:
            while time.perf_counter() < stop_at:
                t = time.perf_counter()
                await asyncio.sleep(0.001)
                lags.append((time.perf_counter() - t - 0.001) * 1000.0)

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                await asyncio.to_thread(busy)
                await asyncio.sleep(0.1)

        await asyncio.gather(tick(), worker())
        return np.asarray(lags)

    default = sys.getswitchinterval()
    results: dict[float, list[np.ndarray]] = {0.005: [], 0.0005: []}
    for _ in range(2):
        for interval in results:
            sys.setswitchinterval(interval)
            results[interval].append(asyncio.run(measure()))
    sys.setswitchinterval(default)
    print(f"# loop lag beside a thread running {busy_ms:g} ms of pure Python every 100 ms (ms)")
    for interval, runs in results.items():
        print(f"switch interval {interval * 1000:4.1f} ms: lag {pct(np.concatenate(runs))}")


def pct(a: np.ndarray) -> str:
    return f"p50 {np.percentile(a, 50):7.2f}  p99 {np.percentile(a, 99):7.2f}  (n={a.size})"


def set_affinity(pid: int, cpus: set[int]) -> None:
    """Every thread of `pid` (the executor threads too: affinity is per thread)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(tid), cpus)


def set_slice(pid: int, slice_ns: int) -> None:
    """Every thread of `pid` asks the scheduler for this time slice (sched_setattr's
    sched_runtime for SCHED_OTHER; Linux >= 6.12, EEVDF). A task woken with a shorter
    slice than the running one may preempt it; at the default slice (1.4 ms on 2 CPUs)
    a client woken by the router, on another CPU, waits for the site's slice to end."""
    nr = {"x86_64": 314, "aarch64": 274}.get(platform.machine())  # sched_setattr
    if nr is None:
        raise SystemExit(f"--client-slice-us: no sched_setattr number for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    attr = struct.pack("IIQiIQQQII", 56, 0, 0, 0, 0, slice_ns, 0, 0, 0, 0)
    for tid in os.listdir(f"/proc/{pid}/task"):
        if libc.syscall(nr, int(tid), ctypes.create_string_buffer(attr), 0) != 0:
            err = ctypes.get_errno()
            raise SystemExit(f"--client-slice-us: sched_setattr failed: {os.strerror(err)}")


LAYOUTS = ("unpinned", "pinned", "site-apart")


def layouts(choice: str) -> dict[str, tuple[set[int], set[int], set[int]]]:
    """Layout name -> (the hop's CPUs, the site's CPUs, the client's CPUs)."""
    cpus = sorted(os.sched_getaffinity(0))
    names = LAYOUTS[:2] if choice == "both" else LAYOUTS if choice == "all" else (choice,)
    if len(cpus) < 2 and set(names) - {"unpinned"}:
        raise SystemExit(f"--affinity {choice} needs at least 2 CPUs")
    every, a, b = set(cpus), {cpus[0]}, {cpus[-1]}
    table = {
        "unpinned": (every, every, every),
        "pinned": (a, b, b),  # the hop alone; the client beside the site
        "site-apart": (b, a, b),  # the site alone; the client beside the hop
    }
    return {name: table[name] for name in names}


GC_PROBE = Path(__file__).resolve().parent / "gcprobe"


def probe_env(on: bool, out: Path, tree: Path | None) -> dict[str, str]:
    if not on:
        return {}
    path = str(GC_PROBE) if tree is None else f"{tree}{os.pathsep}{GC_PROBE}"
    return {"PYTHONPATH": path, "GCPROBE_OUT": str(out)}


def loop_env(loop: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "GEOROUTE_EVENT_LOOP": loop}


NOTES = {
    "relay": "  (by the bare relay: the floor of a hop)",
    "base": "  (by the router of --baseline-rev)",
}


def report(
    layout: str,
    hops: dict[str, tuple[str, int]],
    paths: dict[str, tuple[str, int]],
    runs: dict[str, list[dict[str, np.ndarray]]],
    cpu: dict[str, np.ndarray],
    wall: dict[str, float],
) -> None:
    keys = [k for k in runs["direct"][0] if k != "router_ms"]
    merged = {path: {k: np.concatenate([r[k] for r in runs[path]]) for k in keys} for path in paths}
    direct = merged["direct"]
    print(f"## layout {layout}")
    clocks = [("", "read by the client process")]
    if direct["sock_first"].size:
        clocks.insert(0, ("sock_", "arrival at the client's socket (kernel receive time)"))
    for prefix, clock in clocks:
        print(f"# lateness {clock}")
        for key, label in (
            ("first", "first chunk (TTFT)"),
            ("last", "last chunk (E2E)"),
            ("every", "every chunk"),
        ):
            d = direct[prefix + key]
            print(f"{label:<20} direct {pct(d)}")
            for hop in hops:
                r = merged[hop][prefix + key]
                print(f"{'':<20} {hop:<6} {pct(r)}")
                print(
                    f"{'':<20} added  p50 {np.percentile(r, 50) - np.percentile(d, 50):7.2f}  "
                    f"p99 {np.percentile(r, 99) - np.percentile(d, 99):7.2f}" + NOTES.get(hop, "")
                )
    for hop in hops:
        if hop == "relay":
            continue
        own = np.concatenate([r["router_ms"] for r in runs[hop]])
        if own.size:
            print(
                f"{hop} own router_ms (its handler start to forward, plus the final-chunk "
                f"rewrite; from each stream's breakdown): {pct(own)}"
            )
    for hop in hops:
        if hop == "relay":
            continue
        routed = merged[hop]
        cpu_streams = float(cpu[hop][1])
        per_chunk_us = cpu_streams / max(routed["every"].size, 1) * 1e6
        print(
            f"{hop} CPU in its rounds: {cpu_streams:.2f} s for {routed['last'].size} "
            f"streams, {routed['every'].size} chunks ({per_chunk_us:.0f} us per chunk, "
            "request handling included)"
        )
    for path in paths:
        site_s, hop_s, client_s = (float(x) / wall[path] for x in cpu[path])
        hop_name = path if path in hops else "hop"
        print(
            f"cores busy, {path:<6} rounds: site {site_s:.2f}  {hop_name} {hop_s:.2f}  "
            f"client {client_s:.2f}  (sum {site_s + hop_s + client_s:.2f})"
        )


async def main(args: argparse.Namespace) -> None:
    if args.serve_relay:
        await serve_relay(*args.serve_relay)
        return
    load_start = os.getloadavg()[0]
    chosen = layouts(args.affinity)

    site_port, router_port = free_port(), free_port()
    site_url, router_url = f"http://127.0.0.1:{site_port}", f"http://127.0.0.1:{router_port}"
    tmp = Path(tempfile.mkdtemp(prefix="georoute-bench-"))
    topo = tmp / "bench.toml"
    topo.write_text(
        f'[[sites]]\nname = "bench"\nplace = "Dublin"\nhardware = "h100-sxm"\nmodel = "{MODEL}"\n'
        f'url = "{site_url}"\n\n[router]\npolicy = "nearest"\nsimulate_network = false\n'
        "max_in_flight_per_site = 100000\nmax_in_flight_total = 100000\n"
    )
    site_args = [
        "site",
        "--name",
        "bench",
        "--place",
        "Dublin",
        "--hardware",
        "h100-sxm",
        "--model",
        MODEL,
        "--port",
        str(site_port),
    ]
    # `georoute site` runs on the loop GEOROUTE_EVENT_LOOP names (sites.server.runner).
    site = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
        [sys.executable, "-m", "georoute", *site_args],
        env=loop_env(args.site_loop),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    router = subprocess.Popen(  # noqa: ASYNC220
        [
            sys.executable,
            "-m",
            "georoute",
            "router",
            "--config",
            str(topo),
            "--port",
            str(router_port),
            "--db",
            str(tmp / "bench.db"),
        ],
        env={
            **loop_env(args.router_loop),
            **probe_env(args.gc_probe, tmp / "gc-router.txt", None),
            **dict(kv.split("=", 1) for kv in args.router_env),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base, base_url, base_rev = None, "", ""
    if args.baseline_rev:
        base_rev, tree = extract_rev(args.baseline_rev, tmp)
        base_port = free_port()
        base_url = f"http://127.0.0.1:{base_port}"
        # PYTHONPATH comes before the editable install's finder: that tree's packages.
        base = subprocess.Popen(  # noqa: ASYNC220
            [
                sys.executable,
                "-m",
                "georoute",
                "router",
                "--config",
                str(topo),
                "--port",
                str(base_port),
                "--db",
                str(tmp / "base.db"),
            ],
            cwd=tree,
            env={
                **loop_env(args.router_loop),
                "PYTHONPATH": str(tree),
                **probe_env(args.gc_probe, tmp / "gc-base.txt", tree),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    relay, relay_url = None, ""
    if args.floor:
        relay_port = free_port()
        relay_url = f"http://127.0.0.1:{relay_port}"
        relay = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, __file__, "--serve-relay", str(relay_port), str(site_port)],
            env=loop_env(args.router_loop),
        )
    if args.router_nice is not None:
        for proc in (router, base, relay):
            if proc is not None:
                os.setpriority(os.PRIO_PROCESS, proc.pid, args.router_nice)
    hop_pids = [p.pid for p in (router, base, relay) if p is not None]

    def apply(layout: str) -> None:
        hop_cpus, site_cpus, client_cpus = chosen[layout]
        for pid in hop_pids:
            set_affinity(pid, hop_cpus)
        set_affinity(site.pid, site_cpus)
        set_affinity(os.getpid(), client_cpus)
        if args.client_slice_us is not None:
            set_slice(os.getpid(), int(args.client_slice_us * 1000))

    try:
        await wait_ready(site_url + "/health")
        await wait_ready(router_url + "/health", sites_healthy=True)
        if base is not None:
            await wait_ready(base_url + "/health", sites_healthy=True)
            await stream_load(base_url, 8, 1.0, 10)
        if relay is not None:
            await wait_ready(relay_url + "/health")
        await stream_load(router_url, 8, 1.0, 10)  # warm both paths
        await stream_load(site_url, 8, 1.0, 10)
        length = f"{args.tokens}" if args.lockstep else f"{args.tokens // 2}-{args.tokens * 3 // 2}"
        print(
            f"# {args.streams} concurrent streams{' in lockstep' if args.lockstep else ''}, "
            f"{length} tokens each, {args.seconds:g} s per path and layout in {args.rounds} "
            "alternating rounds; lateness = chunk arrival - site's scheduled time (ms)"
            + ("" if args.router_nice is None else f"; router at nice {args.router_nice}")
            + (f"; router env {' '.join(args.router_env)}" if args.router_env else "")
        )
        print(
            f"# event loops: router {args.router_loop}, site {args.site_loop}, client "
            f"{args.client_loop}; layouts: "
            + "; ".join(
                f"{name} (router{'/base' if base else ''}{'/relay' if relay else ''} "
                f"on CPUs {sorted(h)}, site on {sorted(st)}, client on {sorted(c)})"
                for name, (h, st, c) in chosen.items()
            )
        )
        # Alternate short rounds so every path and layout sees the same machine.
        hops = {"router": (router_url, router.pid)}
        if base is not None:
            hops["base"] = (base_url, base.pid)
            print(f"# base = the router at {args.baseline_rev} ({base_rev})")
        if relay is not None:
            hops["relay"] = (relay_url, relay.pid)
        paths = {"direct": (site_url, router.pid), **hops}
        runs: dict[str, dict[str, list[dict[str, np.ndarray]]]] = {
            lay: {p: [] for p in paths} for lay in chosen
        }
        # CPU seconds of (site, hop, client) per path: on a 2-core machine the three
        # processes share the cores, so the sum says how close the run is to saturation.
        cpu = {lay: {p: np.zeros(3) for p in paths} for lay in chosen}
        wall = {lay: dict.fromkeys(paths, 0.0) for lay in chosen}
        windows: dict[str, list[tuple[float, float]]] = {}
        sched = SchedRecording(tmp / "sched.data") if args.perf_sched else None
        if sched is not None:
            sched.start()
            await asyncio.sleep(1.0)  # perf's set-up, before the first round
        for i in range(args.rounds):
            for layout in chosen:
                apply(layout)
                for path, (url, hop_pid) in paths.items():
                    pids = (site.pid, hop_pid, os.getpid())
                    cpu0, t0 = np.array([cpu_seconds(p) for p in pids]), time.monotonic()
                    runs[layout][path].append(
                        await stream_load(
                            url,
                            args.streams,
                            args.seconds / args.rounds,
                            args.tokens,
                            lockstep=args.lockstep,
                            seed=i,  # the same draws for every path
                            client=args.client,
                        )
                    )
                    cpu[layout][path] += np.array([cpu_seconds(p) for p in pids]) - cpu0
                    wall[layout][path] += time.monotonic() - t0
                    windows.setdefault(f"{layout} {path}", []).append((t0, time.monotonic()))
        for layout in chosen:
            report(layout, hops, paths, runs[layout], cpu[layout], wall[layout])
        if sched is not None:
            sched.stop()
            procs = {"client": os.getpid(), "site": site.pid, "router": router.pid}
            if relay is not None:
                procs["relay"] = relay.pid
            delays = sched.delays(procs, windows)
            print("# scheduling delay (wakeup to running on a CPU, ms; perf sched timehist)")
            for win in windows:
                for name in procs:
                    d = delays.get((win, name))
                    if d is not None and d.size:
                        print(
                            f"{win:<22} {name:<7} p50 {np.percentile(d, 50):6.3f}  "
                            f"p90 {np.percentile(d, 90):6.3f}  p99 {np.percentile(d, 99):6.3f}  "
                            f"mean {d.mean():6.3f}  ({d.size} runs)"
                        )
        print(
            f"load average {os.getloadavg()[0]:.2f} (at start {load_start:.2f}) on "
            f"{os.cpu_count()} CPUs (shared machine)"
        )

        layout = "pinned" if "pinned" in chosen else next(iter(chosen))
        apply(layout)
        targets = {"router": (router_url, router.pid)}
        if base is not None:
            targets["base"] = (base_url, base.pid)
        done = dict.fromkeys(targets, 0)
        short_wall = dict.fromkeys(targets, 0.0)
        short_cpu = dict.fromkeys(targets, 0.0)
        for _ in range(args.rounds):  # alternated, like the streaming rounds
            for name, (url, pid) in targets.items():
                pid_cpu0, t0 = cpu_seconds(pid), time.monotonic()
                done[name] += await short_requests(
                    url, args.short_workers, args.seconds / args.rounds
                )
                short_wall[name] += time.monotonic() - t0
                short_cpu[name] += cpu_seconds(pid) - pid_cpu0
        for name in targets:
            print(
                f"short non-streamed requests through the {name} (layout {layout}, "
                f"{args.short_workers} clients): {done[name] / short_wall[name]:.0f} req/s; "
                f"{name} CPU {short_cpu[name]:.2f} s -> "
                f"{done[name] / short_cpu[name]:.0f} req per {name} CPU-second"
            )
    finally:
        procs = [p for p in (relay, base, router, site) if p is not None]
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for name in ("router", "base"):
            probe = tmp / f"gc-{name}.txt"
            if probe.exists():
                print(f"# cyclic GC in the {name} after start-up (CPU time of each collection)")
                print(probe.read_text(), end="")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--tokens", type=int, default=100)
    ap.add_argument("--short-workers", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument(
        "--affinity",
        choices=("both", "all", *LAYOUTS),
        default="both",
        help="CPU layout: pinned = router alone on the first CPU, site and client on the "
        "second; site-apart = site alone on the first CPU, router and client on the "
        "second; unpinned = the scheduler decides; both = unpinned and pinned, "
        "alternated (default); all = the three",
    )
    ap.add_argument(
        "--client",
        choices=("socket", "aiohttp"),
        default="socket",
        help="streaming client: socket = a lean client (tests/perf/sockstamp.py) that "
        "times each chunk at its arrival at the socket (kernel timestamp) and at its read; "
        "aiohttp = aiohttp's client, read times only (the figures before this option)",
    )
    ap.add_argument(
        "--client-slice-us",
        type=float,
        metavar="US",
        help="diagnostic: this client's scheduler time slice (Linux >= 6.12; default "
        "slice 1.4 ms on 2 CPUs): with a short one it is not kept waiting for the slice of "
        "the process it shares a CPU with, as a client on a host of its own would not be",
    )
    ap.add_argument(
        "--perf-sched",
        action="store_true",
        help="diagnostic: record the scheduler with `perf sched` (root) and print, per "
        "layout and path, how long the client, site and hop waited for a CPU when woken",
    )
    ap.add_argument(
        "--lockstep",
        action="store_true",
        help="all streams start together and have the same length (a burst every round)",
    )
    for who in ("router", "site", "client"):
        ap.add_argument(
            f"--{who}-loop",
            choices=("uvloop", "asyncio"),
            default="uvloop",
            help=f"event loop of the {who} process (default uvloop)",
        )
    ap.add_argument(
        "--floor",
        action="store_true",
        help="also measure a bare TCP relay (bytes in, bytes out, no HTTP): the floor of "
        "any extra Python hop on this machine",
    )
    ap.add_argument(
        "--router-nice",
        type=int,
        metavar="N",
        help="diagnostic: run the router (and the relay) at this nice value (negative needs "
        "root), to see how much of the added time is waiting for a CPU on a shared machine",
    )
    ap.add_argument(
        "--baseline-rev",
        metavar="REV",
        help="also measure the router of this git revision (before/after in one run)",
    )
    ap.add_argument(
        "--router-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable for the router process only (repeatable)",
    )
    ap.add_argument(
        "--gc-probe",
        action="store_true",
        help="time every cyclic-GC collection in the router (and base) after start-up",
    )
    ap.add_argument(
        "--gil-demo",
        action="store_true",
        help="only show an event loop's lag beside a pure-Python thread at GIL switch "
        "intervals 5 and 0.5 ms (why the router runs at 0.5 ms)",
    )
    ap.add_argument("--serve-relay", nargs=2, type=int, metavar=("PORT", "TARGET"), help=SUPPRESS)
    return ap.parse_args()


def run() -> None:
    args = parse_args()
    if args.gil_demo:
        gil_demo()
        return
    # The relay runs under the router's loop (passed in its environment).
    run_event_loop(main(args), None if args.serve_relay else args.client_loop)


if __name__ == "__main__":
    run()
