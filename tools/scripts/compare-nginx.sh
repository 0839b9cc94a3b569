#!/usr/bin/env bash
# Requests/s of spoonfeed vs nginx as reverse proxies (one worker each, upstream keep-alive)
# in front of the same backend (an nginx serving a fixed body), and the backend direct, on
# this machine. Rounds are interleaved; the median of each is printed with the ratio. On a
# 2-core machine the backend and wrk share a core and may cap all three, so the proxies' CPU
# time is read from /proc too: requests per proxy CPU-second is what the proxy itself costs.
#
# usage: tools/scripts/compare-nginx.sh [BODY_BYTES=1024] [CONNECTIONS=64] [SECONDS=10] [ROUNDS=3]
# needs: nginx, wrk, taskset; a release build (cargo build --release).
# Placement on 2 cores: the proxy under test on CPU 0; the backend and wrk on CPU 1.
set -euo pipefail
body=${1:-1024} conns=${2:-64} secs=${3:-10} rounds=${4:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$top/target/release/spoonfeed
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
work=$(mktemp -d)
# nginx's workers run as an unprivileged user: the body must be readable by them.
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null; [ -f "$work/backend.pid" ] && kill "$(cat "$work/backend.pid")" 2>/dev/null; [ -f "$work/proxy.pid" ] && kill "$(cat "$work/proxy.pid")" 2>/dev/null; rm -rf "$work"' EXIT
head -c "$body" /dev/urandom > "$work/body"
backend=18181 nginx_proxy=18182 spoon=18183

cat > "$work/backend.conf" <<CONF
worker_processes 1; daemon on; pid $work/backend.pid; error_log $work/backend.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$backend; root $work; location / { try_files /body =404; } } }
CONF
cat > "$work/proxy.conf" <<CONF
worker_processes 1; daemon on; pid $work/proxy.pid; error_log $work/proxy.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  upstream b { server 127.0.0.1:$backend; keepalive 64; }
  server { listen 127.0.0.1:$nginx_proxy;
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering on; } } }
CONF
cat > "$work/spoonfeed.conf" <<CONF
Listen 127.0.0.1:$spoon
Workers 1
MaxKeepAliveRequests 0
ProxyPass / http://127.0.0.1:$backend/
CONF

taskset -c 1 nginx -c "$work/backend.conf" -p "$work"
taskset -c 0 nginx -c "$work/proxy.conf" -p "$work"
taskset -c 0 "$bin" -f "$work/spoonfeed.conf" 2>"$work/spoonfeed.err" &
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$spoon/x" && break; sleep 0.1; done

spoon_pid=$!
# Measure only what is what it claims to be: a 200 of BODY bytes from each.
for port in $backend $nginx_proxy $spoon; do
  got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/x")
  [ "$got" = "200 $body" ] || { echo "port $port answered \"$got\", not \"200 $body\"" >&2; exit 1; }
done
nginx_worker=$(pgrep -P "$(cat "$work/proxy.pid")" | head -1)
ticks() { [ -n "$1" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
hz=$(getconf CLK_TCK)
run() { taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$1/x" | awk '/Requests\/sec/ {print $2}'; }
declare -A results cpu
for _ in $(seq "$rounds"); do
  for target in direct:$backend: nginx:$nginx_proxy:$nginx_worker spoonfeed:$spoon:$spoon_pid; do
    IFS=: read -r name port pid <<<"$target"
    before=$(ticks "$pid")
    rps=$(run "$port")
    after=$(ticks "$pid")
    results[$name]+="$rps "
    # requests per CPU-second of the proxy process
    [ -n "$pid" ] && cpu[$name]+="$(awk -v r="$rps" -v s="$secs" -v t=$((after - before)) -v hz="$hz" 'BEGIN { printf "%.0f", (t > 0) ? r * s / (t / hz) : 0 }') "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "body=$body connections=$conns seconds=$secs rounds=$rounds (median requests/s, all rounds)"
d=$(echo "${results[direct]}" | median); n=$(echo "${results[nginx]}" | median); s=$(echo "${results[spoonfeed]}" | median)
printf '%-10s %10s   %s\n' direct "$d" "${results[direct]}" nginx "$n" "${results[nginx]}" spoonfeed "$s" "${results[spoonfeed]}"
awk -v s="$s" -v n="$n" -v d="$d" 'BEGIN { printf "spoonfeed/nginx = %.2f   spoonfeed/direct = %.2f   nginx/direct = %.2f\n", s/n, s/d, n/d }'
nc=$(echo "${cpu[nginx]}" | median); sc=$(echo "${cpu[spoonfeed]}" | median)
echo "requests per proxy CPU-second (median): nginx $nc   spoonfeed $sc   spoonfeed/nginx = $(awk -v a="$sc" -v b="$nc" 'BEGIN { printf "%.2f", a/b }')"
