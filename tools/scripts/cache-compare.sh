#!/usr/bin/env bash
# Cache hit throughput of spoonfeed vs nginx's proxy_cache (one worker each, both caching to
# disk, objects of 1 KiB and 1 MiB that the backend marks `Cache-Control: max-age=3600`),
# on this machine. Each proxy is warmed (one miss per object), then wrk requests the object
# over keep-alive connections; rounds are interleaved and medians printed with the ratio, and
# requests per proxy CPU-second (on 2 cores wrk may cap both).
#
# usage: tools/scripts/cache-compare.sh [CONNECTIONS=64] [SECONDS=10] [ROUNDS=3]
# needs: nginx, wrk, curl, taskset; cargo build --release.
# Placement on 2 cores: the proxy under test on CPU 0; wrk (and the idle backend) on CPU 1.
set -euo pipefail
conns=${1:-64} secs=${2:-10} rounds=${3:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$top/target/release/spoonfeed
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null; cat "$work"/*.pid 2>/dev/null | xargs -r kill 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/www" "$work/nginx-cache" "$work/spoonfeed-cache"
head -c 1024 /dev/urandom > "$work/www/1k"
head -c 1048576 /dev/urandom > "$work/www/1m"
chmod -R 755 "$work/www" "$work/nginx-cache"
backend=18681 nginx_proxy=18682 spoon=18683

cat > "$work/backend.conf" <<CONF
worker_processes 1; daemon on; pid $work/backend.pid; error_log $work/backend.err;
events { worker_connections 4096; }
http { access_log off;
  server { listen 127.0.0.1:$backend; root $work/www;
    location / { add_header Cache-Control "max-age=3600"; } } }
CONF
cat > "$work/proxy.conf" <<CONF
worker_processes 1; daemon on; pid $work/proxy.pid; error_log $work/proxy.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  proxy_cache_path $work/nginx-cache levels=1:2 keys_zone=c:10m max_size=1g;
  upstream b { server 127.0.0.1:$backend; keepalive 16; }
  server { listen 127.0.0.1:$nginx_proxy;
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache c; proxy_cache_valid 200 1h; sendfile on; } } }
CONF
cat > "$work/spoonfeed.conf" <<CONF
Listen 127.0.0.1:$spoon
Workers 1
MaxKeepAliveRequests 0
CacheRoot $work/spoonfeed-cache
CacheEnable disk /
CacheMaxFileSize 2m
ProxyPass / http://127.0.0.1:$backend/
CONF

taskset -c 1 nginx -c "$work/backend.conf" -p "$work"
taskset -c 0 nginx -c "$work/proxy.conf" -p "$work"
taskset -c 0 "$bin" -f "$work/spoonfeed.conf" 2>"$work/spoonfeed.err" &
spoon_pid=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$spoon/1k" && break; sleep 0.1; done
# Warm both caches, and check that the second answer is a hit of the right size.
for port in $nginx_proxy $spoon; do
  for object in 1k 1m; do
    curl -s -o /dev/null "http://127.0.0.1:$port/$object"
  done
done
sleep 0.5
for object in 1k 1m; do
  want=$(stat -c %s "$work/www/$object")
  got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -D "$work/h" "http://127.0.0.1:$spoon/$object")
  if [ "$got" != "200 $want" ] || ! grep -qi '^cache-status: spoonfeed; hit' "$work/h"; then
    echo "spoonfeed: $object is not a hit of $want bytes ($got)" >&2
    exit 1
  fi
done
nginx_worker=$(pgrep -P "$(cat "$work/proxy.pid")" | head -1)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
run() { taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$1/$2" | awk '/Requests\/sec/ {print $2}'; }
declare -A results cpu
for _ in $(seq "$rounds"); do
  for object in 1k 1m; do
    for target in nginx:$nginx_proxy:$nginx_worker spoonfeed:$spoon:$spoon_pid; do
      IFS=: read -r name port pid <<<"$target"
      before=$(ticks "$pid")
      rps=$(run "$port" "$object")
      after=$(ticks "$pid")
      results[$name.$object]+="$rps "
      cpu[$name.$object]+="$(awk -v r="$rps" -v s="$secs" -v t=$((after - before)) -v hz="$hz" 'BEGIN { printf "%.0f", (t > 0) ? r * s / (t / hz) : 0 }') "
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "connections=$conns seconds=$secs rounds=$rounds; cache hits, medians (all rounds); per CPU-s: of the proxy process"
printf '%-8s %12s %12s %7s %14s %16s %7s\n' object nginx spoonfeed ratio "nginx/CPU-s" "spoonfeed/CPU-s" ratio
for object in 1k 1m; do
  n=$(echo "${results[nginx.$object]}" | median); s=$(echo "${results[spoonfeed.$object]}" | median)
  nc=$(echo "${cpu[nginx.$object]}" | median); sc=$(echo "${cpu[spoonfeed.$object]}" | median)
  printf '%-8s %12s %12s %7s %14s %16s %7s\n' "$object" "$n" "$s" \
    "$(awk -v a="$s" -v b="$n" 'BEGIN { printf "%.2f", a/b }')" "$nc" "$sc" \
    "$(awk -v a="$sc" -v b="$nc" 'BEGIN { printf "%.2f", (b > 0) ? a/b : 0 }')"
done
