#!/usr/bin/env python3
"""Instructions per call of the mapping benchmark's steps, counted by callgrind.

This VM's CPU time varies by 20-30 % between identical runs; an instruction count does not, so
it shows a change of a few per cent that timing cannot. It is not a time: cache misses and
branch mispredictions are not in it. Needs valgrind (`apt-get install -y valgrind`).

    python3 tools/instructions_per_record.py                      # the default groups
    python3 tools/instructions_per_record.py sign_in_beta/ocsf    # one group
    python3 tools/instructions_per_record.py --binary target/release/deps/mapping-HASH

Each group runs under callgrind for two seconds of criterion's profiling mode; the steps are
the functions the benchmark calls itself: `PageBody::parse` (scan a page of 984 sign-ins:
validate it, find its records and their properties), `Record::parse` (validate and split a
record), `map_record` (map and serialise it). `Record::parse_validated` is the record split of
builds before 2026-12-01, so that an older benchmark binary can be counted beside a newer one.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

GROUPS = [
    "page_split",
    "sign_in_beta/ocsf",
    "sign_in_beta/ecs",
    "directory_audit/ocsf",
    "provisioning/ocsf",
]
STEPS = {
    "PageBody::parse": "validate + split a page",
    "Record::parse_validated": "split a record",
    "Record::parse": "validate + split a record",
    "schema::map_record": "map + serialise a record",
}
CALLEE = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+>\s+\S*?:(\S+) \(([\d,]+)x\)")


def bench_binary() -> str:
    output = subprocess.run(
        ["cargo", "bench", "--bench", "mapping", "--no-run", "--message-format=json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in output.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable"):
            if message["target"]["name"] == "mapping":
                return message["executable"]
    sys.exit("cargo did not report the mapping benchmark's executable")


def count(binary: str, group: str) -> dict:
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary,
             "--bench", f"^{group}", "--profile-time", "2"],
            check=True,
            capture_output=True,
        )
        tree = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", "--tree=calling", str(out)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    totals = {}
    caller_is_bench = False
    for line in tree.splitlines():
        if "*  " in line:
            caller_is_bench = "benches/mapping.rs:" in line
            continue
        match = CALLEE.match(line)
        if not (caller_is_bench and match):
            continue
        cost, function, calls = (int(match.group(1).replace(",", "")), match.group(2),
                                 int(match.group(3).replace(",", "")))
        for step in STEPS:
            if function.endswith(step):
                total_cost, total_calls = totals.get(step, (0, 0))
                totals[step] = (total_cost + cost, total_calls + calls)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", default=GROUPS)
    parser.add_argument("--binary", help="the mapping benchmark's executable (default: build it)")
    arguments = parser.parse_args()
    binary = arguments.binary or bench_binary()
    print(f"{'group':24} {'step':28} {'instructions per call':>22} {'calls':>8}")
    for group in arguments.groups:
        for step, (cost, calls) in count(binary, group).items():
            print(f"{group:24} {STEPS[step]:28} {cost / calls:>22,.0f} {calls:>8}")


if __name__ == "__main__":
    main()
