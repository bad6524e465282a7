#!/usr/bin/env bash
# scripts/bench python-upload: a 1 GiB file registered through the Python
# client and through the Go CLI against one local server in the same run,
# alternating (BENCH_ROUNDS rounds, 3 by default; the CLI first in odd
# rounds, Python first in even ones) so both see the same machine; the
# ratio is Python's throughput over the CLI's (goal >= 0.8), best of each.
# The load average is printed with each round: on a shared machine one
# round can be twice another.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
plugin=bench
# shellcheck source=../../../scripts/test.d/lib/plugin.bash
. scripts/test.d/lib/plugin.bash
# shellcheck source=../../../scripts/test.d/lib/venv.bash
. scripts/test.d/lib/venv.bash
venv_ensure
work=$(mktemp -d "${BENCH_DIR:-$root}/.bench-py.XXXXXX")
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/modelreg" ./cmd/modelreg
head -c $((1 << 30)) /dev/urandom > "$work/model.bin"
sync
token=mr_bench_admin_token_0123456789abcdef
MODELREG_ADMIN_TOKEN=$token MODELREG_LOG_LEVEL=warn "$work/modelreg" serve --addr 127.0.0.1:0 --data-dir "$work/data" > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -nE 's/^modelreg listening on ([^ ]+).*/\1/p' "$work/serve.out")
[ -n "$url" ] || { echo "server did not start"; cat "$work/serve.err"; exit 1; }
export MODELREG_URL=$url MODELREG_TOKEN=$token
"$work/modelreg" models create bench_go >/dev/null
"$work/modelreg" models create bench_py >/dev/null
go_best="" py_best=""
# Each upload starts from the same disk (the previous one's files removed
# and synced away), and the order swaps every round, so neither client
# always runs right after the other's 1 GiB of writes and fsyncs.
clean() {
  rm -rf "$work/data/artifacts"/*/bench_* 2>/dev/null || true
  sync
}
run_go() {
  local s e
  s=$(date +%s.%N)
  "$work/modelreg" register bench_go --artifact "$work/model.bin" --no-git --output json 2>/dev/null | grep -q '"status": "READY"'
  e=$(date +%s.%N)
  g=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }')
  clean
}
run_py() {
  p=$(PYTHONPATH="$root/clients/python/src" "$venv/bin/python" clients/python/bench/upload.py "$url" "$token" bench_py "$work/model.bin")
  clean
}
for round in $(seq "${BENCH_ROUNDS:-3}"); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  if [ $((round % 2)) = 1 ]; then run_go; run_py; order="CLI first"; else run_py; run_go; order="Python first"; fi
  echo "round $round ($order, load $load): Go CLI ${g}s = $(awk -v t="$g" 'BEGIN { printf "%.0f", 1024 / t }') MiB/s, Python client ${p}s = $(awk -v t="$p" 'BEGIN { printf "%.0f", 1024 / t }') MiB/s"
  go_best=$(awk -v a="$g" -v b="${go_best:-$g}" 'BEGIN { print (a < b ? a : b) }')
  py_best=$(awk -v a="$p" -v b="${py_best:-$p}" 'BEGIN { print (a < b ? a : b) }')
done
awk -v g="$go_best" -v p="$py_best" 'BEGIN {
  printf "best: Go CLI %.2fs (%.0f MiB/s), Python client %.2fs (%.0f MiB/s)\n", g, 1024 / g, p, 1024 / p
  printf "ratio Python/CLI throughput: %.2f (goal >= 0.80)\n", g / p
}'
