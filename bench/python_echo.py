#!/usr/bin/env python3
"""Python echo servers side by side: wsengine (handler mode on the reader
threads, thread per connection, and events mode) against websockets
(asyncio and sync), under the same load from
bench/loadgen (tokio-tungstenite on one thread, not wsengine).

    target/py-venv/bin/python bench/python_echo.py [--rounds 3] [--seconds 5]

Servers run pinned to CPU 0 and the load generator to CPU 1; servers are
interleaved (A, B, C, D, A, B, ...) and each figure is the median of the
rounds. Server CPU per message is utime+stime from /proc/PID/stat over the
measured run divided by the echoes: it stays stable on a noisy machine.
The load generator's own CPU use is reported too: a figure near 100% would
mean the load, not the server, set the pace. Prints a Markdown table.
"""
import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable
SERVERS = {
    "wsengine serve (thread per connection)": [PY, os.path.join(ROOT, "examples/python/echo_server.py")],
    "wsengine listen(on_message=...), reader threads": [PY, os.path.join(ROOT, "examples/python/echo_server.py"), "--handler"],
    "wsengine listen(poll_events=True), one thread": [PY, os.path.join(ROOT, "examples/python/echo_server.py"), "--poll"],
    "websockets asyncio": [PY, os.path.join(HERE, "servers/websockets_asyncio.py")],
    "websockets sync (threads)": [PY, os.path.join(HERE, "servers/websockets_sync.py")],
}
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def wait_listening(port, proc, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not listen")


def one_run(cmd, args):
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", "0", *cmd, f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, server)
        loadgen = [os.path.join(ROOT, "target/release/loadgen"), f"ws://127.0.0.1:{port}/",
                   "--conns", str(args.conns), "--size", str(args.size), "--inflight", str(args.inflight),
                   "--seconds", str(args.seconds), "--warmup", "1"]
        # CPU is sampled over the whole load run (warm-up included) and
        # divided by the echoes of the measured window scaled to the run.
        cpu0 = cpu_seconds(server.pid)
        load0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        out = subprocess.run(["taskset", "-c", "1", *loadgen], capture_output=True, text=True,
                             timeout=args.seconds + 60, check=True).stdout
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(server.pid) - cpu0
        load1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_cpu = (load1.ru_utime - load0.ru_utime) + (load1.ru_stime - load0.ru_stime)
        result = json.loads(out.strip().splitlines()[-1])
        total_echoes = result["msgs_per_s"] * elapsed
        result["cpu_us_per_msg"] = cpu / total_echoes * 1e6 if total_echoes else float("nan")
        result["load_cpu_pct"] = 100 * load_cpu / elapsed
        return result
    finally:
        server.kill()
        server.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--inflight", type=int, default=16)
    args = ap.parse_args()
    runs = {name: [] for name in SERVERS}
    for r in range(args.rounds):
        for name, cmd in SERVERS.items():
            res = one_run(cmd, args)
            runs[name].append(res)
            print(f"round {r + 1} {name}: {res['msgs_per_s']:.0f} msg/s, p50 {res['p50_us']} us, "
                  f"{res['cpu_us_per_msg']:.1f} us CPU/msg, load {res['load_cpu_pct']:.0f}% CPU", file=sys.stderr, flush=True)
    base = statistics.median(x["msgs_per_s"] for x in runs["websockets asyncio"])
    print(f"\n{args.conns} connections x {args.size}-byte messages, {args.inflight} in flight each; "
          f"medians of {args.rounds} interleaved runs of {args.seconds:g} s\n")
    print("| server | msg/s | vs websockets asyncio | p50 latency | p99 latency | server CPU per msg "
          "| load generator CPU |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, rs in runs.items():
        m = statistics.median(x["msgs_per_s"] for x in rs)
        print(f"| {name} | {m:,.0f} | {m / base:.2f}x | {statistics.median(x['p50_us'] for x in rs) / 1000:.1f} ms "
              f"| {statistics.median(x['p99_us'] for x in rs) / 1000:.1f} ms "
              f"| {statistics.median(x['cpu_us_per_msg'] for x in rs):.1f} us "
              f"| {statistics.median(x['load_cpu_pct'] for x in rs):.0f}% |")


if __name__ == "__main__":
    main()
