#!/usr/bin/env python3
"""Figures from sample.py's samples.

    report.py rpo SAMPLES_TSV FROM_US TO_US
        RPO of every sample taken between FROM_US and TO_US (Unix microseconds): seconds from the primary's read until
        the first later read of the same cluster's repository end that reached that LSN (resolution: one round, counted
        against PgVault). Prints "samples unresolved p50 p99 max" (seconds; unresolved: never reached by the end).
    report.py takeover SAMPLES_TSV KILL_US CLUSTER...
        For each cluster: the repository end when the instance was killed (the largest read before KILL_US), and the
        seconds from KILL_US until the first read past it. Prints "clusters advanced p50 p99 max" (seconds).
"""
import sys


def load(path):
    rows = {}
    for line in open(path):
        f = line.split()
        if len(f) != 5:
            continue
        rows.setdefault(f[0], []).append((int(f[1]), int(f[2]), int(f[3]), int(f[4])))
    return rows


def pct(values, p):
    """Nearest rank."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, -(-len(v) * p // 100) - 1))
    return v[int(k)]


def rpo(rows, t0, t1):
    lags, unresolved = [], 0
    for samples in rows.values():
        for i, (tp, _, p, _) in enumerate(samples):
            if not t0 <= tp <= t1:
                continue
            reached = next((tr for (_, tr, _, r) in samples[i:] if r >= p), None)
            if reached is None:
                unresolved += 1
            else:
                lags.append((reached - tp) / 1e6)
    n = len(lags) + unresolved
    print(f"{n} {unresolved} {pct(lags, 50):.3f} {pct(lags, 99):.3f} {max(lags) if lags else float('nan'):.3f}")


def takeover(rows, kill, clusters):
    times, advanced = [], 0
    for c in clusters:
        samples = rows.get(c, [])
        before = [r for (_, tr, _, r) in samples if tr <= kill]
        e0 = max(before) if before else 0
        after = next((tr for (_, tr, _, r) in samples if tr > kill and r > e0), None)
        if after is not None:
            advanced += 1
            times.append((after - kill) / 1e6)
            print(f"  {c}: end {e0} at the kill, advanced after {(after - kill) / 1e6:.1f} s", file=sys.stderr)
        else:
            print(f"  {c}: end {e0} at the kill, never advanced", file=sys.stderr)
    mx = max(times) if times and advanced == len(clusters) else float("inf")
    print(f"{len(clusters)} {advanced} {pct(times, 50):.1f} {pct(times, 99) if advanced == len(clusters) else float('inf'):.1f} {mx:.1f}")


def main():
    mode, path = sys.argv[1], sys.argv[2]
    rows = load(path)
    if mode == "rpo":
        rpo(rows, int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "takeover":
        takeover(rows, int(sys.argv[3]), sys.argv[4:])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
