#!/usr/bin/env python3
"""Run a command; report its wall time and peak anonymous memory (RssAnon summed over the process tree,
sampled every 5 ms; file pages mapped or cached do not count). Prints one JSON line on stderr:
{"seconds": s, "peak_rss_anon_mib": m, "rc": code}. The command's stdout goes to our stdout."""
import json
import os
import subprocess
import sys
import time


def rss_anon_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def tree(pid):
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


def main():
    t0 = time.monotonic()
    proc = subprocess.Popen(sys.argv[1:])
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(rss_anon_kib(p) for p in tree(proc.pid)))
        time.sleep(0.005)
    secs = time.monotonic() - t0
    print(json.dumps({"seconds": round(secs, 3), "peak_rss_anon_mib": round(peak / 1024, 1), "rc": proc.returncode}),
          file=sys.stderr)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
