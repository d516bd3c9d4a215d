#!/usr/bin/env bash
# Everything CI runs: dependencies, unit tests, release build, end-to-end tests.
#
#   sudo ./tests/run.sh                 all of it
#   sudo ./tests/run.sh overlap         only tests/e2e/overlap.sh after building
#   sudo ./tests/run.sh firewall        only tests/e2e/firewall.sh (every tests/e2e/*.sh runs by default)
#
# Ends with one line `e2e: N passed, N failed` and exits non-zero on any failure.
set -uo pipefail # no -e: a failing step is recorded and the remaining steps still run
VN_PROG=run
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
vn_require_root "$0" "$@" # the e2e tests need root (namespaces, OVS, DPDK af_packet)
cd "$VN_ROOT" || exit 1

step_failed=()
e2e_pass=0
e2e_fail=0
logdir=$(mktemp -d /tmp/vn-run.XXXXXX)
trap 'rm -rf -- "$logdir"' EXIT

banner() { printf '\n==== %s\n' "$*"; }

banner "dependencies (scripts/install-deps.sh)"
if ! ./scripts/install-deps.sh; then
    echo "install-deps failed: nothing else can run"
    echo "e2e: 0 passed, 1 failed"
    exit 1
fi
vn_find_cargo
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

banner "format and lints (cargo fmt --check, cargo clippy -D warnings)"
# Both come with rustup's default profile; a toolchain without them skips the step, saying so.
if vn_cargo fmt --version >/dev/null 2>&1; then
    vn_cargo fmt --all -- --check || step_failed+=("cargo fmt --check")
else
    echo "skipped: rustfmt is not installed"
fi
if vn_cargo clippy --version >/dev/null 2>&1; then
    vn_cargo clippy --workspace --all-targets -- -D warnings || step_failed+=("cargo clippy")
else
    echo "skipped: clippy is not installed"
fi

banner "unit tests (cargo test --workspace)"
vn_cargo test --workspace || step_failed+=("cargo test")

banner "release build (cargo build --release --workspace)"
vn_cargo build --release --workspace || step_failed+=("cargo build --release")

scripts=()
for t in tests/e2e/*.sh; do
    [[ -e $t ]] || continue
    if [[ $# -gt 0 ]]; then
        name=$(basename "$t" .sh)
        printf '%s\n' "$@" | grep -qxF "$name" || continue
    fi
    scripts+=("$t")
done

for t in "${scripts[@]}"; do
    banner "e2e: $t"
    log=$logdir/$(basename "$t").log
    timeout --kill-after=30 900 "$t" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    p=$(grep -cE '^ok [0-9]+' "$log")
    f=$(grep -cE '^not ok [0-9]+' "$log")
    if [[ $rc -ne 0 && $f -eq 0 ]]; then
        echo "not ok - $t exited with status $rc without reporting a failed case"
        f=1
    fi
    e2e_pass=$((e2e_pass + p))
    e2e_fail=$((e2e_fail + f))
done

banner "summary"
if [[ ${#step_failed[@]} -gt 0 ]]; then
    printf 'FAILED step: %s\n' "${step_failed[@]}"
else
    echo "unit tests and release build: ok"
fi
echo "e2e: $e2e_pass passed, $e2e_fail failed"
[[ ${#step_failed[@]} -eq 0 && $e2e_fail -eq 0 ]]
