#!/usr/bin/env bash
# Splice or copy? For each body size, requests/s and requests per proxy CPU-second of two
# spoonfeeds in front of the same nginx backend: one with ProxySplice Off (bodies through
# blocks: read + writev) and one with ProxySplice On (backend -> pipe -> client with
# splice(2)). This is the measurement behind ProxySplice Auto's threshold. Rounds are
# interleaved; medians are printed.
#
# usage: tools/scripts/splice-sweep.sh [SIZES="4096 16384 65536 262144 1048576"] [CONNECTIONS=16] [SECONDS=5] [ROUNDS=3]
# needs: nginx, wrk, taskset; a release build (cargo build --release).
# Placement on 2 cores: the spoonfeed under test on CPU 0; the backend and wrk on CPU 1.
set -euo pipefail
sizes=${1:-"4096 16384 65536 262144 1048576"} conns=${2:-16} secs=${3:-5} rounds=${4:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$top/target/release/spoonfeed
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
work=$(mktemp -d)
# nginx's workers run as an unprivileged user: the files must be readable by them.
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/backend.pid" ] && kill "$(cat "$work/backend.pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
backend=18191 off=18192 on=18193

mkdir -p "$work/www"
for size in $sizes; do head -c "$size" /dev/urandom > "$work/www/$size"; done
cat > "$work/backend.conf" <<CONF
worker_processes 1; daemon on; pid $work/backend.pid; error_log $work/backend.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; sendfile on;
  server { listen 127.0.0.1:$backend; root $work/www; } }
CONF
taskset -c 1 nginx -c "$work/backend.conf" -p "$work"
for mode in Off On; do
  port=$off; [ "$mode" = On ] && port=$on
  cat > "$work/$mode.conf" <<CONF
Listen 127.0.0.1:$port
Workers 1
MaxKeepAliveRequests 0
ProxySplice $mode
ProxyPass / http://127.0.0.1:$backend/
CONF
  taskset -c 0 "$bin" -f "$work/$mode.conf" 2>"$work/$mode.err" &
  pids+=($!)
  eval "pid_$mode=$!"
done
first=${sizes%% *}
for port in $off $on; do
  for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/$first" 2>/dev/null && break; sleep 0.1; done
done
# Measure only what is what it claims to be: every size, through each, is a 200 of that size.
for size in $sizes; do
  for port in $backend $off $on; do
    got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/$size")
    [ "$got" = "200 $size" ] || { echo "port $port /$size answered \"$got\", not \"200 $size\"" >&2; exit 1; }
  done
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-9s %12s %12s %8s   %14s %14s %8s\n' body "copy req/s" "splice req/s" ratio "copy req/cpus" "splice req/cpus" ratio
for size in $sizes; do
  declare -A rps=() per=()
  for _ in $(seq "$rounds"); do
    for mode in Off On; do
      port=$off; [ "$mode" = On ] && port=$on
      pid_var=pid_$mode; pid=${!pid_var}
      before=$(ticks "$pid")
      r=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port/$size" | awk '/Requests\/sec/ {print $2}')
      after=$(ticks "$pid")
      rps[$mode]+="$r "
      per[$mode]+="$(awk -v r="$r" -v s="$secs" -v t=$((after - before)) -v hz="$hz" 'BEGIN { printf "%.0f", (t > 0) ? r * s / (t / hz) : 0 }') "
    done
  done
  co=$(echo "${rps[Off]}" | median); so=$(echo "${rps[On]}" | median)
  cc=$(echo "${per[Off]}" | median); sc=$(echo "${per[On]}" | median)
  printf '%-9s %12s %12s %8s   %14s %14s %8s\n' "$size" "$co" "$so" "$(awk -v a="$so" -v b="$co" 'BEGIN { printf "%.2f", a/b }')" \
    "$cc" "$sc" "$(awk -v a="$sc" -v b="$cc" 'BEGIN { printf "%.2f", (b > 0) ? a/b : 0 }')"
done
echo "connections=$conns seconds=$secs rounds=$rounds; spoonfeed pinned to CPU 0, nginx backend and wrk to CPU 1"
grep -h . "$work/Off.err" "$work/On.err" | head -5 || true
