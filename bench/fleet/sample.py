#!/usr/bin/env python3
"""Samples, round after round, every cluster's flush LSN on the primary and the end of the WAL its repository holds.

    sample.py CLUSTERS_TSV SECONDS OUT_TSV [STOP_FILE]

CLUSTERS_TSV has one line per cluster: its id, its port on 127.0.0.1 and the repository directory under which its
objects are (clusters/{id}/chains/... is looked for below it). Each round (at most every 0.2 s) asks every primary for
pg_current_wal_flush_lsn() (one persistent psql session per cluster) and then reads the repository's end for that
cluster from its object names alone (never the catalog): wal/{TTTTTTTT}/{segment}-{sha}.zst ends at the segment's end,
wal/{TTTTTTTT}/{segment}.partial/{offset}-{end}-{sha}.zst at the segment's start + end (hexadecimal). Writes one line
per cluster and round: "cluster t_primary_us t_repository_us primary_lsn repository_end" (LSNs as byte positions).
Stops after SECONDS, or when STOP_FILE exists.
"""
import os
import subprocess
import sys
import time

SEGMENT = 16 * 1024 * 1024
PSQL = os.environ.get("PSQL", "/usr/lib/postgresql/15/bin/psql")


def segment_start(name):
    return int(name[8:16], 16) * 4294967296 + int(name[16:24], 16) * SEGMENT


def is_segment(name):
    return len(name) >= 24 and all(c in "0123456789ABCDEF" for c in name[:24])


def repository_end(cluster_dir):
    best = 0
    try:
        chains = os.listdir(os.path.join(cluster_dir, "chains"))
    except FileNotFoundError:
        return 0
    for chain in chains:
        wal = os.path.join(cluster_dir, "chains", chain, "wal")
        try:
            timelines = [t for t in os.listdir(wal) if len(t) == 8]
        except FileNotFoundError:
            continue
        for tl in timelines:
            d = os.path.join(wal, tl)
            try:
                names = [n for n in os.listdir(d) if is_segment(n)]
            except FileNotFoundError:
                continue
            # The newest segment first: whole (ends at its end) or pieces (end at the largest piece's end).
            for name in sorted(names, key=lambda n: (n[:24], not n.endswith(".partial")), reverse=True):
                start = segment_start(name)
                if name.endswith(".zst") and name[24] == "-":
                    end = start + SEGMENT
                elif name.endswith(".partial"):
                    end = 0
                    try:
                        for piece in os.listdir(os.path.join(d, name)):
                            parts = piece.split("-")
                            if len(parts) >= 3 and piece.endswith(".zst"):
                                end = max(end, start + int(parts[1], 16))
                    except FileNotFoundError:
                        pass  # whole meanwhile: the next listing sees the segment
                    if end == 0:
                        continue
                else:
                    continue
                best = max(best, end)
                break
    return best


def find_cluster_dir(root, cluster):
    for base, dirs, _ in os.walk(root):
        if os.path.basename(base) == "clusters" and cluster in dirs:
            return os.path.join(base, cluster)
    return None


def main():
    clusters_tsv, seconds, out_tsv = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    stop_file = sys.argv[4] if len(sys.argv) > 4 else None
    clusters = [line.split() for line in open(clusters_tsv) if line.strip()]
    sessions = {}
    for cid, port, _ in clusters:
        sessions[cid] = subprocess.Popen(
            [PSQL, "-X", "-At", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    dirs = {}
    deadline = time.monotonic() + seconds
    with open(out_tsv, "w") as out:
        while time.monotonic() < deadline and not (stop_file and os.path.exists(stop_file)):
            began = time.monotonic()
            for cid, _, root in clusters:
                s = sessions[cid]
                t_p = time.time_ns() // 1000
                s.stdin.write("SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn;\n")
                s.stdin.flush()
                lsn = s.stdout.readline().strip()
                if cid not in dirs or dirs[cid] is None:
                    dirs[cid] = find_cluster_dir(root, cid)
                end = repository_end(dirs[cid]) if dirs[cid] else 0
                t_r = time.time_ns() // 1000
                if lsn.isdigit():
                    out.write(f"{cid} {t_p} {t_r} {lsn} {end}\n")
            out.flush()
            rest = 0.2 - (time.monotonic() - began)
            if rest > 0:
                time.sleep(rest)
    for s in sessions.values():
        s.stdin.close()
        s.wait(timeout=10)


if __name__ == "__main__":
    main()
