#!/usr/bin/env bash
# A fuzzing campaign over the committed corpora: runs each target for SECONDS seconds starting
# from fuzz/corpus/<target> (and fuzz/seeds/<target>), merges what it found back into
# fuzz/corpus/<target> minimised (`cargo fuzz cmin`), and prints per target the executions,
# libFuzzer's coverage figures (`cov`: edges covered, `ft`: features), the corpus size before and
# after, and whether it crashed.
#
# Usage: fuzz/campaign.sh [SECONDS] [TARGET...]
#   SECONDS  per target (default 1800: the 30 minutes a campaign quotes); 30 makes a smoke run
#   TARGET   default: every target `cargo fuzz list` names
# Environment: FUZZ_JOBS (default 1) runs that many libFuzzer workers per target (-fork), on a
# machine with cores to spare; FUZZ_LOG_DIR (default fuzz/logs) keeps each run's log.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer's instrumentation uses nightly-only
# compiler flags; on a stable toolchain RUSTC_BOOTSTRAP=1 enables them. Commit the corpora it
# leaves under fuzz/corpus/ (they are minimised) and any crash under fuzz/artifacts/ with its fix.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-1800}"
shift || true
jobs="${FUZZ_JOBS:-1}"
logs="${FUZZ_LOG_DIR:-logs}"
mkdir -p "$logs"
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

count() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }
# The last value of a libFuzzer field ("cov: 123") in a log.
last() { grep -Eo "$1: [0-9]+" "$2" | tail -1 | grep -Eo '[0-9]+' || echo '?'; }

status=0
summary=()
for target in "${targets[@]}"; do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  if [ -d "seeds/$target" ]; then cp -n "seeds/$target"/* "$corpus/" 2>/dev/null || true; fi
  before=$(count "$corpus")
  # New inputs go to a scratch directory (libFuzzer writes to the first one it is given), so the
  # committed corpus only ever receives what the minimising merge keeps.
  scratch=$(mktemp -d)
  log="$logs/$target.log"
  echo "== $target: ${seconds}s from $before inputs"
  fork=()
  if [ "$jobs" -gt 1 ]; then fork=(-fork="$jobs" -ignore_crashes=0); fi
  if cargo fuzz run "$target" "$scratch" "$corpus" -- -max_total_time="$seconds" \
      -max_len=4096 -print_final_stats=1 "${fork[@]}" >"$log" 2>&1; then
    crashed=0
  else
    crashed=1
    status=1
  fi
  execs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+$' \
    || grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  cov=$(last cov "$log")
  ft=$(last ft "$log")
  cp -n "$scratch"/* "$corpus/" 2>/dev/null || true
  rm -rf "$scratch"
  # Minimise: keep the smallest set of inputs with the same coverage.
  if ! cargo fuzz cmin "$target" "$corpus" -- -max_len=4096 >"$logs/$target.cmin.log" 2>&1; then
    echo "   cmin failed: see fuzz/$logs/$target.cmin.log"
    status=1
  fi
  after=$(count "$corpus")
  line=$(printf '%-18s %8ss %12s execs  cov %6s  ft %7s  corpus %5s -> %5s  crashes %s' \
    "$target" "$seconds" "${execs:-?}" "$cov" "$ft" "$before" "$after" "$crashed")
  echo "   $line"
  summary+=("$line")
  if [ "$crashed" -ne 0 ]; then
    echo "   CRASH: see fuzz/$log and fuzz/artifacts/$target"
    tail -30 "$log"
  fi
done
echo
echo "target             time           executions  coverage (edges, features)  corpus  crashes"
printf '%s\n' "${summary[@]}"
exit $status
