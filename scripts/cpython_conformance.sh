#!/usr/bin/env bash
# CPython's own tests of the stdlib codecs that mimeflow replaces, run
# against mimeflow: test.test_binascii, test.test_base64, test.test_quopri
# and the whole test.test_email package, each twice per interpreter:
#
#   swap     every binding of the functions the suite exercises (module
#            attributes and names bound at import, in the stdlib and in the
#            test modules) replaced by mimeflow's, wrapped in call counters;
#   install  mimeflow.install() alone, calls counted by a profile hook.
#
# A mimeflow function called zero times fails the run (a swap that missed a
# binding would leave the stdlib running and the tests passing untouched),
# and so does a failing test that is not listed in KNOWN_DIFFERENCES below.
# The table at the end: version x suite x mode, tests run, passed, skipped,
# listed differences, other failures, mimeflow calls.
#
#   scripts/cpython_conformance.sh             every CPython 3.9-3.13 found
#       (pyenv's, then ~/.pyenv/versions/*): for each, a wheel built with
#       maturin for that interpreter (the extension is not abi3: one per
#       version) and installed into a venv of its own under
#       target/conformance/
#   scripts/cpython_conformance.sh --current   the interpreter of .venv (or
#       $MIMEFLOW_CONFORMANCE_PYTHON), which must already have mimeflow
#       installed (scripts/test.sh's venv); builds nothing
#
#   MIMEFLOW_CONFORMANCE_VERSIONS="3.11 3.13"   only these versions
#   MIMEFLOW_CONFORMANCE_PROFILE=release        maturin's --release builds
#       (the default is a debug build: quicker to compile, and speed does
#       not matter here)
#
# Debian's system Python ships no `test` package: an interpreter without one
# is skipped with a message (with MIMEFLOW_REQUIRE_ORACLES=1, it fails).
# CPython's property tests need Hypothesis: each venv gets it from PyPI
# where that answers (else they skip, and the table's "skipped" says so).
# The skips left are CPython's own: test_binascii's 4 GiB crc32 test
# (bigmem) and one test_email test it skips unconditionally.
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null
case "${1:-}" in
    "" | --current) ;;
    *)
        echo "usage: $0 [--current]" >&2
        exit 2
        ;;
esac

# Failures that come from deliberate differences, one "test id|reason" a
# line, with the RFC or CPython bug behind each. At most five.
KNOWN_DIFFERENCES=(
)
if ((${#KNOWN_DIFFERENCES[@]} > 5)); then
    echo "KNOWN_DIFFERENCES: at most five" >&2
    exit 1
fi
export MIMEFLOW_CONFORMANCE_KNOWN
MIMEFLOW_CONFORMANCE_KNOWN=$(printf '%s\n' "${KNOWN_DIFFERENCES[@]}")

SUITES=(test_binascii test_base64 test_quopri test_email)
MODES=(swap install)
runner=scripts/cpython_conformance_runner.py
work=target/conformance
mkdir -p "$work"
table="$work/table.tsv"
: >"$table"
status=0

# The interpreter's own test package must be there.
has_tests() {
    "$1" -c 'import test.test_binascii, test.test_base64, test.test_quopri, test.test_email' 2>/dev/null
}

missing() {
    if [[ "${MIMEFLOW_REQUIRE_ORACLES:-0}" == 1 ]]; then
        echo "error: $*" >&2
        status=1
    else
        echo "skip: $*" >&2
    fi
}

# run_suites VERSION PYTHON: every suite in both modes, rows into $table.
run_suites() {
    local version=$1 py=$2 suite mode log result
    for suite in "${SUITES[@]}"; do
        for mode in "${MODES[@]}"; do
            log="$work/$version-$suite-$mode.log"
            printf '==> %s %s %s\n' "$version" "$suite" "$mode"
            if "$py" "$runner" --suite "$suite" --mode "$mode" >"$log" 2>&1; then
                :
            else
                status=1
                echo "FAILED: $version $suite $mode (log: $log)" >&2
                grep -v '^RESULT ' "$log" | tail -n 40 >&2 || true
            fi
            grep -E '^  calls|^listed difference|^note:|^  no mimeflow' "$log" || true
            result=$(grep '^RESULT ' "$log" | tail -n 1 | cut -c8-)
            if [[ -z "$result" ]]; then
                printf '%s\t%s\t%s\t-\t-\t-\t-\t-\tcrashed\n' "$version" "$suite" "$mode" >>"$table"
                continue
            fi
            "$py" -c '
import json, sys
r = json.loads(sys.argv[4])
calls = r["calls"] if r["mimeflow"] else "none (no drop-in yet)"
print("\t".join(map(str, [sys.argv[1], sys.argv[2], sys.argv[3], r["run"], r["passed"],
      r["skipped"], r["listed"], r["failed"], calls])))' \
                "$version" "$suite" "$mode" "$result" >>"$table"
        done
    done
}

if [[ "${1:-}" == --current ]]; then
    py="${MIMEFLOW_CONFORMANCE_PYTHON:-.venv/bin/python}"
    if [[ ! -x "$py" ]] || ! "$py" -c 'import mimeflow' 2>/dev/null; then
        echo "error: $py cannot import mimeflow (run scripts/test.sh first, or set MIMEFLOW_CONFORMANCE_PYTHON)" >&2
        exit 1
    fi
    version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if has_tests "$py"; then
        run_suites "$version" "$py"
    else
        missing "$py ($version) has no test package (Debian's system Python ships none)"
    fi
else
    versions="${MIMEFLOW_CONFORMANCE_VERSIONS:-3.9 3.10 3.11 3.12 3.13}"
    build_flags=()
    [[ "${MIMEFLOW_CONFORMANCE_PROFILE:-dev}" == release ]] && build_flags=(--release)
    pyenv_root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    for version in $versions; do
        # Candidates: pyenv's list of installed versions, then whatever is
        # under its versions folder; the newest patch release that runs,
        # reports this version and has its test package wins.
        candidates=()
        if command -v pyenv >/dev/null 2>&1; then
            while read -r name; do
                candidates+=("$pyenv_root/versions/$name/bin/python$version")
            done < <(pyenv versions --bare 2>/dev/null | grep -E "^${version//./\\.}\.[0-9]+$" || true)
        fi
        for p in "$pyenv_root"/versions/"$version".*/bin/python"$version"; do
            candidates+=("$p")
        done
        py=""
        while read -r p; do
            [[ -n "$p" && -x "$p" ]] || continue
            [[ "$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" == "$version" ]] || continue
            has_tests "$p" || continue
            py=$p
        done < <(printf '%s\n' "${candidates[@]}" | sort -uV)
        if [[ -z "$py" ]]; then
            missing "no CPython $version with its test package found"
            continue
        fi
        echo "==> CPython $version: $py"
        wheels="$work/wheels-$version"
        rm -rf "$wheels"
        if ! maturin build --quiet "${build_flags[@]}" --interpreter "$py" --out "$wheels" >"$work/build-$version.log" 2>&1; then
            status=1
            tail -n 30 "$work/build-$version.log" >&2
            echo "FAILED: wheel build for $version (log: $work/build-$version.log)" >&2
            continue
        fi
        venv="$work/venv-$version"
        rm -rf "$venv"
        "$py" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --no-index --no-deps "$wheels"/*.whl
        # CPython's property tests (test.support.hypothesis_helper) skip
        # without Hypothesis: install it where PyPI can be reached.
        if ! "$venv/bin/python" -m pip install --quiet hypothesis >/dev/null 2>&1; then
            echo "note: no Hypothesis for $version (PyPI unreachable): CPython's property tests skip" >&2
        fi
        run_suites "$version" "$venv/bin/python"
    done
fi

echo
{
    printf 'python\tsuite\tmode\trun\tpassed\tskipped\tlisted\tfailed\tmimeflow calls\n'
    cat "$table"
} | column -t -s $'\t'
if ((status != 0)); then
    echo "conformance: FAILED" >&2
fi
exit "$status"
