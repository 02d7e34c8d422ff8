#!/usr/bin/env bash
# Thread scaling of `mimeflow convert`: -j1 against -j2 (or -jN), runs
# alternated so both see the same machine, medians of wall and CPU time.
#
#   scripts/convert_scaling.sh ARCHIVE [RUNS] [JOBS]
#
# Formats: jsonl into /tmp, maildir into /dev/shm (tmpfs, so the disk is out
# of it). Needs a release build (cargo build --release --features cli) and GNU time.
set -euo pipefail
src=${1:?usage: convert_scaling.sh ARCHIVE [RUNS] [JOBS]}
runs=${2:-7}
jobs=${3:-2}
bin=${MIMEFLOW:-$(cd "$(dirname "$0")/.." && pwd)/target/release/mimeflow}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" /dev/shm/mimeflow-scaling.$$' EXIT
for spec in "jsonl $tmp/out.jsonl" "maildir /dev/shm/mimeflow-scaling.$$"; do
    read -r fmt dest <<<"$spec"
    for _ in $(seq "$runs"); do
        for j in 1 "$jobs"; do
            rm -rf "$dest"
            /usr/bin/time -f "%e %U %S" -a -o "$tmp/t.$fmt.$j" \
                "$bin" -q convert "$src" --to "$fmt" "$dest" -j"$j"
        done
    done
    python3 - "$fmt" "$tmp/t.$fmt.1" "$tmp/t.$fmt.$jobs" "$jobs" <<'PY'
import statistics, sys
fmt, one, many, jobs = sys.argv[1:]
def med(path):
    rows = [list(map(float, l.split())) for l in open(path) if l.strip()]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] + r[2] for r in rows)
(w1, c1), (wn, cn) = med(one), med(many)
print(f"{fmt:8} -j1 {w1:.3f} s wall {c1:.3f} s cpu | -j{jobs} {wn:.3f} s wall {cn:.3f} s cpu | scaling {w1 / wn:.2f}x")
PY
done
