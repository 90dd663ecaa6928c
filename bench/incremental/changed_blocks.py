#!/usr/bin/env python3
"""Counts the 8 KiB pages of a PostgreSQL data directory's relation files whose page LSN is newer than a given LSN
(the reference base backup's start): the blocks an ideal block-level incremental stores. Prints
"changed_blocks total_blocks changed_bytes_zstd": the changed pages concatenated and compressed with zstd at LEVEL (the
lower bound a tool storing those blocks, compressed, could reach). Run after a CHECKPOINT (pages in shared buffers are
not on disk yet). Hint-bit-only changes without WAL (no checksums, wal_log_hints off) keep their LSN: not counted.

usage: changed_blocks.py PGDATA LSN [LEVEL]      (LSN as PostgreSQL prints it, e.g. 0/3000028)
"""
import os
import re
import struct
import subprocess
import sys

RELATION = re.compile(r"^\d+(_fsm|_vm|_init)?(\.\d+)?$")


def relation_files(pgdata):
    roots = [os.path.join(pgdata, "base"), os.path.join(pgdata, "global")]
    tblspc = os.path.join(pgdata, "pg_tblspc")
    if os.path.isdir(tblspc):
        roots += [os.path.join(tblspc, t) for t in os.listdir(tblspc)]
    for root in roots:
        for directory, _, files in os.walk(root, followlinks=True):
            for name in files:
                if RELATION.match(name):
                    yield os.path.join(directory, name)


def main():
    pgdata, lsn_text = sys.argv[1], sys.argv[2]
    level = sys.argv[3] if len(sys.argv) > 3 else "1"
    high, low = lsn_text.split("/")
    reference = (int(high, 16) << 32) | int(low, 16)
    zstd = subprocess.Popen(["zstd", f"-{level}", "-q", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    counter = subprocess.Popen(["wc", "-c"], stdin=zstd.stdout, stdout=subprocess.PIPE)
    zstd.stdout.close()
    changed = total = 0
    for path in relation_files(pgdata):
        try:
            with open(path, "rb") as f:
                while True:
                    page = f.read(8192)
                    if len(page) < 8192:
                        break
                    total += 1
                    xlogid, xrecoff = struct.unpack_from("<II", page, 0)
                    if ((xlogid << 32) | xrecoff) > reference:
                        changed += 1
                        zstd.stdin.write(page)
        except FileNotFoundError:
            continue  # dropped while we walked
    zstd.stdin.close()
    zstd.wait()
    compressed = int(counter.communicate()[0].split()[0])
    print(changed, total, compressed)


if __name__ == "__main__":
    main()
