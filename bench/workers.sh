#!/bin/bash
# mux serve --workers 1 against --workers 2 under h2load, in interleaved rounds (issue 12).
#
#   bench/workers.sh [ROUNDS]        (default 3; needs h2load from Debian nghttp2-client)
#
# Each run: start `mux serve --listen 127.0.0.1:0 --workers W`, wait for its
# "serving on" line, run `h2load -c 8 -m 100 -D 10 http://127.0.0.1:PORT/echo`,
# and print req/s, how the 8 connections were spread over the workers (ss, 5 s
# in), the server's CPU time per request (utime+stime of the supervisor and its
# workers from /proc, read before SIGTERM) and the load average.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
ROUNDS=${1:-3}
TICK=$(getconf CLK_TCK)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cpu_ticks() {  # utime + stime of the given pids, in clock ticks
  local total=0 pid fields
  for pid in "$@"; do
    fields=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    set -- $fields
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

for round in $(seq "$ROUNDS"); do
  for workers in 1 2; do
    "$PYTHON" -m mux serve --listen 127.0.0.1:0 --workers "$workers" --log-level WARNING \
      >"$out/serve" 2>"$out/err" &
    server=$!
    for _ in $(seq 300); do grep -q "serving on" "$out/serve" && break; sleep 0.1; done
    port=$(sed -n 's/^mux: serving on 127.0.0.1:\([0-9]*\)$/\1/p' "$out/serve")
    sleep 1
    tree="$server $(pgrep -P "$server" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    before=$(cpu_ticks $tree)
    h2load -c 8 -m 100 -D 10 "http://127.0.0.1:$port/echo" >"$out/h2load" 2>&1 &
    load=$!
    sleep 5
    split=$(ss -tnpH state established "( sport = :$port )" | grep -o 'pid=[0-9]*' | sort \
      | uniq -c | awk '{print $1}' | paste -sd/)
    wait "$load"
    # shellcheck disable=SC2086
    after=$(cpu_ticks $tree)
    rps=$(sed -n 's/.*finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$out/h2load")
    done_=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$out/h2load")
    cpu_us=$(awk -v t=$((after - before)) -v hz="$TICK" -v n="$done_" \
      'BEGIN { printf "%.0f", n ? t / hz * 1e6 / n : 0 }')
    echo "round $round workers $workers: $rps req/s, connections per worker $split," \
      "server CPU $cpu_us us/req, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
    kill -TERM "$server"
    wait "$server"
  done
done
