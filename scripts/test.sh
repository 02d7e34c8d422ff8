#!/usr/bin/env bash
# Runs every test: Rust (unit, integration, doc, CLI), the criterion benches'
# and fuzz targets' builds with a fuzz run of each target from its seeds
# (parsers 30 s, the rest 5 s: about 2.5 minutes), then the Python
# package's tests in a virtualenv of its own (.venv), built with maturin.
#
#   scripts/test.sh            everything
#   SKIP_FUZZ=1 scripts/test.sh    without installing/running cargo-fuzz
#   FUZZ_PARSER_SECONDS=N FUZZ_SECONDS=M scripts/test.sh    other fuzz times
#
# Tests whose oracle is missing (python3, GNU base64, ../shared/corpora,
# /proc, the CLI binary) skip with a message; with MIMEFLOW_REQUIRE_ORACLES=1
# (set by .ci/run) they fail instead.
#
# Needs: a Rust toolchain (cargo), python3 (3.9+) with venv, network access to
# crates.io and PyPI on the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
# Nothing here reads the terminal; a stray inherited stdin must not reach the
# tools (CI gives none at all).
exec </dev/null

step() { printf '\n==> %s\n' "$*"; }

# cargo asks rustc about the target by feeding it /dev/null as source. Where
# /dev/null has become a plain file (something renamed a file over it as
# root), that file holds whatever was "discarded" into it and the probe fails
# with baffling parse errors; so say so, and empty it before each build.
clear_devnull() { :; }
if [[ ! -c /dev/null ]]; then
    printf 'warning: /dev/null is not a character device: %s\n' "$(ls -l /dev/null 2>&1)" >&2
    printf 'warning: as root, restore it with: rm /dev/null && mknod -m 666 /dev/null c 1 3\n' >&2
    clear_devnull() { : 2>/dev/null >/dev/null || true; }
    cargo() { clear_devnull; command cargo "$@"; }
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --all-targets --features cli -- -D warnings
cargo clippy --all-targets -- -D warnings
# The library alone (no rayon) and the tests that build without it.
cargo clippy --no-default-features --lib --tests -- -D warnings

step "the library as a dependency builds no CLI, chart or peer-codec crates"
# `cargo tree` of the default features (what `mimeflow = ...` in a user's
# Cargo.toml builds): none of the CLI's crates may appear.
lib_tree=$(cargo tree --edges normal --prefix none --format '{p}')
for crate in clap plotters indicatif simdutf mimalloc ctrlc anyhow; do
    if grep -q "^$crate v" <<<"$lib_tree"; then
        echo "default features pull in $crate: keep it behind the cli feature" >&2
        exit 1
    fi
done

step "cargo test (every backend this CPU has runs the same table)"
cargo test --features cli

step "cargo test without default features (the library alone: no rayon, no CLI)"
cargo test --no-default-features --lib --test base64_backends --test base64_stream \
    --test header --test qp --test multipart --test message --test message_golden

step "criterion benches build"
cargo bench --no-run --features bench-peers

if [[ "${SKIP_FUZZ:-0}" != 1 ]]; then
    step "fuzz targets: build, then a run of each from its committed seeds"
    if ! cargo fuzz --version >/dev/null 2>&1; then
        cargo install cargo-fuzz --locked
    fi
    # cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets this stable toolchain take them.
    export RUSTC_BOOTSTRAP=1
    (cd fuzz && cargo fuzz build -O)
    # The parsers have deep states to reach: they get longer runs. Each run
    # starts from fuzz/seeds/TARGET (read only; fuzz/seeds/generate.py makes
    # them); what it finds goes to a scratch folder. Quiet on success (one
    # line per target), the whole log and the reproducer's path on failure.
    fuzz_tmp=$(mktemp -d)
    trap 'rm -rf "$fuzz_tmp"' EXIT
    for target in $(cd fuzz && cargo fuzz list); do
        case "$target" in
            message|multipart|parse_vs_scanner|mbox_split|header|dkim) seconds="${FUZZ_PARSER_SECONDS:-30}" ;;
            *) seconds="${FUZZ_SECONDS:-5}" ;;
        esac
        corpus="$fuzz_tmp/$target"
        mkdir -p "$corpus"
        seeds=()
        [[ -d "fuzz/seeds/$target" ]] && seeds=("seeds/$target")
        log="$fuzz_tmp/$target.log"
        # Every mbox::stream reserves its spool threshold (64 MiB of address
        # space) up front; under ASan each such block is mapped, poisoned and
        # held in the 256 MiB free quarantine, which made mbox_split (three
        # streams per input) run ~40 inputs/s. Without the quarantine: ~640.
        # Use-after-free there would need unsafe code, which it does not reach.
        asan="${ASAN_OPTIONS:-}"
        if [[ "$target" == mbox_split ]]; then
            asan="${asan:+$asan:}quarantine_size_mb=0"
        fi
        if ! (cd fuzz && ASAN_OPTIONS="$asan" cargo fuzz run -O "$target" "$corpus" "${seeds[@]}" -- \
                -max_total_time="$seconds") >"$log" 2>&1; then
            cat "$log"
            printf 'fuzz target %s failed; reproducer in fuzz/artifacts/%s/\n' "$target" "$target" >&2
            exit 1
        fi
        printf '%-22s %s\n' "$target" "$(grep -m1 -P '\tDONE ' "$log" || tail -n 1 "$log")"
    done
fi

step "Python: virtualenv, maturin build, pytest"
if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# The `test` extra of pyproject.toml (pytest, hypothesis, mypy and the
# real clients the tests read our outputs with), read from the file so the
# list lives in one place; then `pip check`.
test_extra=$(.venv/bin/python - <<'PY'
import re
text = open("pyproject.toml").read()
m = re.search(r'^test = \[(.*)\]\s*$', text, re.M)  # greedy: extras have brackets
print(" ".join(re.findall(r'"([^"]+)"', m.group(1))))
PY
)
# shellcheck disable=SC2086
.venv/bin/python -m pip install --quiet "maturin>=1.5,<2" $test_extra
.venv/bin/python -m pip check
clear_devnull
VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH" .venv/bin/maturin develop --release --quiet
HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-fast}" .venv/bin/python -m pytest python/tests -q

step "Python: CPython's own codec test suites against the drop-ins (this interpreter)"
# test_binascii, test_base64, test_quopri and test_email, with mimeflow's
# functions swapped in, then with mimeflow.install() (about 20 s); other
# versions: scripts/cpython_conformance.sh without --current.
scripts/cpython_conformance.sh --current

step "Python: mypy.stubtest (the stubs and annotations against the built module)"
# _native.pyi against the extension, and the annotated .py modules (their
# own stubs) type-checked; no allowlist: every entry agrees.
.venv/bin/python -m mypy.stubtest mimeflow

step "all tests passed"
