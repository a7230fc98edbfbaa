#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60) and reports the result of each.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer's instrumentation uses nightly-only
# compiler flags; on a stable toolchain RUSTC_BOOTSTRAP=1 enables them.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi
status=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  if [ -d "seeds/$target" ]; then cp -n "seeds/$target"/* "corpus/$target/" 2>/dev/null || true; fi
  echo "== $target: ${seconds}s"
  if cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=4096 \
      >"/tmp/fuzz-$target.log" 2>&1; then
    runs=$(grep -Eo '#[0-9]+' "/tmp/fuzz-$target.log" | tail -1 | tr -d '#')
    echo "   ok: ${runs:-?} executions, no crash"
  else
    echo "   FAILED: see /tmp/fuzz-$target.log and fuzz/artifacts/$target"
    tail -30 "/tmp/fuzz-$target.log"
    status=1
  fi
done
exit $status
