#!/usr/bin/env bash
# Mutation testing (cargo-mutants) of the pure core and of the flow's decision code: every
# mutant the tests do not catch is either killed by a new test or listed, with the reason it is
# equivalent, in docs/assurance.md.
#
# Usage: scripts/mutants.sh [GROUP|FILE...]
#   core   src/otp/{window,code,hotp,totp,hmac,uri,recovery}.rs
#   flow   src/flow/{throttle,tokens}.rs, and in login.rs and sensitive.rs the functions that
#          decide replay and proofs
#   FILE   any of those files alone (the tests are chosen by its folder)
#   default: core, then flow
# Environment: MUTANTS_ARGS adds arguments to cargo-mutants, e.g. MUTANTS_ARGS=--iterate to test
# again only the mutants the previous run of that file did not catch (after adding tests);
# MUTANTS_SKIP names a test to leave out (libtest's --skip), e.g. one that fails unmutated.
#
# Too slow for every CI run on 2 cores (a mutant rebuilds the library and the test binaries:
# 10 to 20 seconds each there, after a first build of the dependencies of about 15 minutes); CI
# can run it on the files a change touches. One job (`--jobs 1`),
# in a copy of the tree, building into target/mutants (kept between runs: only the first builds
# the dependencies). Only the tests that cover the mutated layer run: the library's unit tests of
# that layer and the integration test modules about it. Results: target/mutants-out/<name>/
# mutants.out (caught.txt, missed.txt, unviable.txt, timeout.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/mutants}"
out_root="target/mutants-out"
mkdir -p "$out_root"

core_files=(src/otp/window.rs src/otp/code.rs src/otp/hotp.rs src/otp/totp.rs src/otp/hmac.rs
  src/otp/uri.rs src/otp/recovery.rs)
# The unit tests of `otp`, and the integration modules about the core.
core_tests=(otp:: verify:: rfc_vectors:: properties:: uri:: oathtool::)
flow_files=(src/flow/throttle.rs src/flow/tokens.rs)
# login.rs and sensitive.rs: replay (check_code, check_recovery_code), the code/recovery-code
# shape rule, the unknown-user path, and the proof check (prove).
flow_decisions_re='check_code|check_recovery_code|looks_like_code|unused_entries|not_enrolled|prove'
flow_tests=(flow:: flow_model:: sessions:: enumeration:: throttling:: tokens:: serde_outcomes::)

# run NAME TEST_FILTERS... -- CARGO_MUTANTS_ARGS...
run() {
  local name="$1"
  shift
  local filters=()
  while [ "$1" != "--" ]; do filters+=("$1"); shift; done
  shift
  if [ -n "${MUTANTS_SKIP:-}" ]; then filters+=(--skip "$MUTANTS_SKIP"); fi
  echo "== $name: $*"
  # shellcheck disable=SC2086 # MUTANTS_ARGS is a list of words
  cargo mutants --jobs 1 --output "$out_root/$name" ${MUTANTS_ARGS:-} "$@" \
    -- --lib --test it -- "${filters[@]}" || true
  local dir="$out_root/$name/mutants.out"
  local n
  for kind in caught missed unviable timeout; do
    n=$( [ -f "$dir/$kind.txt" ] && wc -l <"$dir/$kind.txt" || echo 0)
    printf '   %-9s %s\n' "$kind" "$n"
  done
  if [ -s "$dir/missed.txt" ]; then echo "   missed:"; sed 's/^/     /' "$dir/missed.txt"; fi
}

one_file() {
  local file="$1" name
  name=$(basename "$file" .rs)
  case "$file" in
    src/otp/*) run "$name" "${core_tests[@]}" -- -f "$file" ;;
    src/flow/login.rs | src/flow/sensitive.rs)
      run "$name" "${flow_tests[@]}" -- -f "$file" -F "$flow_decisions_re" --features serde ;;
    # With `serde`, so that the serde impls are compiled and their tests run.
    src/flow/*) run "$name" "${flow_tests[@]}" -- -f "$file" --features serde ;;
    *) echo "not a file this script covers: $file" >&2; exit 2 ;;
  esac
}

args=("$@")
[ ${#args[@]} -eq 0 ] && args=(core flow)
for arg in "${args[@]}"; do
  case "$arg" in
    core) for f in "${core_files[@]}"; do one_file "$f"; done ;;
    flow)
      for f in "${flow_files[@]}" src/flow/login.rs src/flow/sensitive.rs; do one_file "$f"; done ;;
    *) one_file "$arg" ;;
  esac
done
