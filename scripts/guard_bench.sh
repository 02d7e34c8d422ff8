#!/usr/bin/env bash
# The guard set of issue 10: does a change slow anything down? Builds OLD
# (a git revision, in a worktree of its own) and the working tree (NEW),
# then alternates them on this machine, at the same time, with criterion's
# --save-baseline / --baseline:
#
#   base64   encode and decode at 1 KiB, 64 KiB, 16 MiB (backend $BACKEND)
#   message  parse of list mail and of attachment mail
#   convert  `mimeflow convert` to jsonl and to a Maildir (benches/cli_convert.rs,
#            one bench binary driving the old and the new CLI)
#   python   mimeflow.parse + walk of every message of the sample archive,
#            in a virtualenv per build (median of timeit repeats)
#
# Each round runs OLD as the baseline and NEW against it, then the other
# way round, so drift of the machine during a round shows up in both
# directions. A bench is SLOWER when, in its median run (the mean of the
# two middle runs for an even count), the lower end of criterion's
# confidence interval for NEW/OLD - 1 is above $THRESHOLD (3%).
#
#   scripts/guard_bench.sh OLD_REV
#   ROUNDS=2 BACKEND=avx512vbmi THRESHOLD=0.03 SKIP_PY=1 scripts/guard_bench.sh 2c09845
#   GUARD_DIR=/tmp/guard BUILD_ONLY=1 scripts/guard_bench.sh 2c09845   (build now,
#   GUARD_DIR=/tmp/guard scripts/guard_bench.sh 2c09845                  time later)
#   B64_FILTER='^decode/mimeflow/avx512vbmi/16777216$' SKIP_MSG=1 SKIP_CONVERT=1 ...
#   SKIP_B64=1 SKIP_PY=1 ...  (the message and convert benches alone)
#       (one bench again; B64_FILTER/MSG_FILTER are criterion filters)
#
# Report the CPU (family/model from /proc/cpuinfo) and check the machine
# is idle first: the figures mean nothing next to another busy process.
set -euo pipefail
cd "$(dirname "$0")/.."
new=$PWD
old_rev=${1:?usage: scripts/guard_bench.sh OLD_REV}
rounds=${ROUNDS:-2}
backend=${BACKEND:-avx512vbmi}
threshold=${THRESHOLD:-0.03}
if [[ -n "${GUARD_DIR:-}" ]]; then
    # Kept between runs: the builds are reused, so they can be made
    # beforehand (BUILD_ONLY=1) and the timing run later, on an idle machine.
    work=$GUARD_DIR
    mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/mimeflow-guard.XXXXXX")
    cleanup() { git -C "$new" worktree remove --force "$work/old" 2>/dev/null || true; }
    trap cleanup EXIT
fi
old="$work/old"

grep -m1 "model name" /proc/cpuinfo || true
echo "cpu family $(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2) model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2)"
echo "old: $old_rev ($(git rev-parse --short "$old_rev"))  new: working tree of $(git rev-parse --short HEAD)"
if [[ ! -d "$old" ]]; then
    git worktree add --quiet --detach "$old" "$old_rev"
fi

build() { # tree
    (cd "$1" && cargo build --quiet --release --features cli \
        && cargo bench --quiet --no-run --features bench-peers --bench base64 --bench message)
}
build "$old"
build "$new"
(cd "$new" && cargo bench --quiet --no-run --bench cli_convert)
archive="$work/guard.mbox"
[[ -s "$archive" ]] || python3 scripts/gen_archive.py mixed "${ARCHIVE_MB:-20}" "$archive" >/dev/null

if [[ -z "${SKIP_PY:-}" ]]; then
    for side in old new; do
        tree=${!side}
        [[ -x "$work/venv-$side/bin/python" ]] || python3 -m venv "$work/venv-$side"
        "$work/venv-$side/bin/pip" install --quiet "maturin>=1.5,<2"
        (cd "$tree" && VIRTUAL_ENV="$work/venv-$side" PATH="$work/venv-$side/bin:$PATH" \
            "$work/venv-$side/bin/maturin" develop --release --quiet)
    done
fi

[[ -n "${BUILD_ONLY:-}" ]] && { echo "built in $work"; exit 0; }

export CRITERION_HOME="$work/criterion"
rm -rf "$CRITERION_HOME"
results="$work/results.tsv"
: >"$results"
b64_filter=${B64_FILTER:-"^(encode|decode)/mimeflow/$backend/(1024|65536|16777216)\$"}
msg_filter=${MSG_FILTER:-'^(list_mail|attachment)/mimeflow/'}

# criterion run: TREE BENCH FILTER BASELINE-ARGS...
crit() {
    local tree=$1 bench=$2 filter=$3
    shift 3
    # The same features for every bench and both trees: the build step made
    # them so. A bench built without bench-peers is another crate graph,
    # partitioned into codegen units differently: on Zen 3 the new tree's
    # `message` bench ran list_mail 35% slower without the feature than with
    # it (same code), which read as a slowdown against the old tree (whose
    # defaults had it), and every call rebuilt the binary.
    (cd "$tree" && cargo bench --quiet --features bench-peers --bench "$bench" -- --noplot "$@" "$filter") >/dev/null
}
convert() { # BIN BASELINE-ARGS...
    local bin=$1
    shift
    (cd "$new" && MIMEFLOW_GUARD_BIN=$bin MIMEFLOW_GUARD_ARCHIVE=$archive \
        cargo bench --quiet --bench cli_convert -- --noplot "$@") >/dev/null
}
# The change estimates of the last compare run, one line a bench:
# name, direction (+1: NEW vs OLD baseline; -1: OLD vs NEW), lo, median, hi.
collect() { # DIRECTION
    python3 - "$CRITERION_HOME" "$1" >>"$results" <<'PY'
import json, os, sys
home, direction = sys.argv[1], int(sys.argv[2])
for root, dirs, files in os.walk(home):
    if root.endswith("/change") and "estimates.json" in files:
        path = os.path.join(root, "estimates.json")
        e = json.load(open(path))["median"]
        ci = e["confidence_interval"]
        name = os.path.relpath(os.path.dirname(root), home)
        print(f"{name}\t{direction}\t{ci['lower_bound']}\t{e['point_estimate']}\t{ci['upper_bound']}")
        os.remove(path)
PY
}

for r in $(seq "$rounds"); do
    echo "round $r/$rounds"
    for bench_filter in "base64 $b64_filter" "message $msg_filter"; do
        [[ -n "${SKIP_MSG:-}" && $bench_filter == message* ]] && continue
        [[ -n "${SKIP_B64:-}" && $bench_filter == base64* ]] && continue
        read -r bench filter <<<"$bench_filter"
        crit "$old" "$bench" "$filter" --save-baseline "old$r"
        crit "$new" "$bench" "$filter" --baseline "old$r"
        collect 1
        crit "$new" "$bench" "$filter" --save-baseline "new$r"
        crit "$old" "$bench" "$filter" --baseline "new$r"
        collect -1
    done
    [[ -n "${SKIP_CONVERT:-}" ]] && continue
    convert "$old/target/release/mimeflow" --save-baseline "old$r"
    convert "$new/target/release/mimeflow" --baseline "old$r"
    collect 1
    convert "$new/target/release/mimeflow" --save-baseline "new$r"
    convert "$old/target/release/mimeflow" --baseline "new$r"
    collect -1
done

# Python: old and new alternate (old new new old) in each round; each side's
# figure is the least of its timeit repeats (timeit's own advice: the
# spread above the least is other processes), and each old/new pair gives
# one ratio, so a round adds two entries as a criterion bench does.
py_bench='
import sys, timeit, mimeflow
data = open(sys.argv[1], "rb").read()
msgs = [m if i == 0 else b"From " + m for i, m in enumerate(data.split(b"\nFrom "))]
def run():
    for m in msgs:
        mimeflow.parse(m).walk()
print(min(timeit.repeat(run, number=200, repeat=int(sys.argv[2]))) / 200)
'
if [[ -z "${SKIP_PY:-}" ]]; then
    for r in $(seq "$rounds"); do
        o1=$("$work/venv-old/bin/python" -c "$py_bench" testdata/mbox/sample.mbox 15)
        n1=$("$work/venv-new/bin/python" -c "$py_bench" testdata/mbox/sample.mbox 15)
        n2=$("$work/venv-new/bin/python" -c "$py_bench" testdata/mbox/sample.mbox 15)
        o2=$("$work/venv-old/bin/python" -c "$py_bench" testdata/mbox/sample.mbox 15)
        python3 -c "
for o, n in (($o1, $n1), ($o2, $n2)):
    print(f'python/parse_walk_sample\t1\t{n/o-1}\t{n/o-1}\t{n/o-1}')" >>"$results"
        echo "python parse+walk of the sample archive: old ${o1}s ${o2}s, new ${n1}s ${n2}s per pass"
    done
fi

python3 - "$results" "$threshold" <<'PY'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    name, d, lo, mid, hi = line.split("\t")
    d, lo, mid, hi = int(d), float(lo), float(mid), float(hi)
    if d < 0:  # OLD measured against NEW: turn OLD/NEW - 1 into NEW/OLD - 1
        lo, mid, hi = 1 / (1 + hi) - 1, 1 / (1 + mid) - 1, 1 / (1 + lo) - 1
    rows[name].append((mid, lo, hi))
threshold = float(sys.argv[2])
slower = 0
print(f"{'bench':58} {'NEW/OLD-1 median':>17} {'CI of that run':>22}  verdict")
for name in sorted(rows):
    # The median run; with an even count, the mean of the two middle ones
    # (taking either alone would lean towards ok or towards SLOWER).
    runs = sorted(rows[name])
    m = len(runs) // 2
    pick = runs[m : m + 1] if len(runs) % 2 else runs[m - 1 : m + 1]
    mid, lo, hi = (statistics.mean(x) for x in zip(*pick))
    verdict = "SLOWER" if lo > threshold else "ok"
    slower += verdict == "SLOWER"
    print(f"{name:58} {mid:+17.2%} {f'[{lo:+.2%}, {hi:+.2%}]':>22}  {verdict}")
print(f"{slower} of {len(rows)} benches slower than +{threshold:.0%} beyond the interval")
sys.exit(1 if slower else 0)
PY
