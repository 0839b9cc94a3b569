#!/usr/bin/env bash
# TLS termination cost of spoonfeed vs nginx (one worker each, the same ECDSA P-256
# certificate, TLS 1.3, upstream keep-alive) in front of the same plain backend (an nginx
# serving a fixed body): requests/s over keep-alive TLS connections, and new TLS connections
# per second (one request each, "Connection: close": a full handshake every time). Rounds
# are interleaved; medians are printed with the ratio, and requests per proxy CPU-second,
# since on 2 cores wrk and the backend share a core and may cap both proxies.
#
# usage: tools/scripts/tls-compare.sh [BODY_BYTES=1024] [CONNECTIONS=64] [SECONDS=10] [ROUNDS=3]
# needs: nginx, wrk (built with TLS, as Debian's), openssl, taskset; cargo build --release.
# Placement on 2 cores: the proxy under test on CPU 0; the backend and wrk on CPU 1.
set -euo pipefail
body=${1:-1024} conns=${2:-64} secs=${3:-10} rounds=${4:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$top/target/release/spoonfeed
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null; cat "$work"/*.pid 2>/dev/null | xargs -r kill 2>/dev/null; rm -rf "$work"' EXIT
head -c "$body" /dev/urandom > "$work/body"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=bench.test -addext subjectAltName=DNS:bench.test \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
chmod 644 "$work/key.pem"
backend=18281 nginx_proxy=18282 spoon=18283

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
  server { listen 127.0.0.1:$nginx_proxy ssl; server_name bench.test;
    ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets on;
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering on; } } }
CONF
cat > "$work/spoonfeed.conf" <<CONF
Listen 127.0.0.1:$spoon https
Workers 1
MaxKeepAliveRequests 0
ServerName bench.test
SSLEngine On
SSLCertificateFile $work/cert.pem
SSLCertificateKeyFile $work/key.pem
ProxyPass / http://127.0.0.1:$backend/
CONF

taskset -c 1 nginx -c "$work/backend.conf" -p "$work"
taskset -c 0 nginx -c "$work/proxy.conf" -p "$work"
taskset -c 0 "$bin" -f "$work/spoonfeed.conf" 2>"$work/spoonfeed.err" &
spoon_pid=$!
for _ in $(seq 50); do curl -skf -o /dev/null "https://127.0.0.1:$spoon/x" && break; sleep 0.1; done
# Measure only what is what it claims to be: a 200 of BODY bytes over TLS from each proxy.
for port in $nginx_proxy $spoon; do
  got=$(curl -sk -o /dev/null -w '%{http_code} %{size_download}' "https://127.0.0.1:$port/x")
  [ "$got" = "200 $body" ] || { echo "port $port answered \"$got\", not \"200 $body\"" >&2; exit 1; }
done
nginx_worker=$(pgrep -P "$(cat "$work/proxy.pid")" | head -1)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# keep-alive: CONNECTIONS connections for the whole run; handshakes: a new connection per request.
run() {
  local extra=()
  [ "$2" = handshakes ] && extra=(-H "Connection: close")
  taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" "${extra[@]}" "https://127.0.0.1:$1/x" \
    | awk '/Requests\/sec/ {print $2}'
}
declare -A results cpu
for _ in $(seq "$rounds"); do
  for mode in keepalive handshakes; do
    for target in nginx:$nginx_proxy:$nginx_worker spoonfeed:$spoon:$spoon_pid; do
      IFS=: read -r name port pid <<<"$target"
      before=$(ticks "$pid")
      rps=$(run "$port" "$mode")
      after=$(ticks "$pid")
      results[$name.$mode]+="$rps "
      cpu[$name.$mode]+="$(awk -v r="$rps" -v s="$secs" -v t=$((after - before)) -v hz="$hz" 'BEGIN { printf "%.0f", (t > 0) ? r * s / (t / hz) : 0 }') "
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "body=$body connections=$conns seconds=$secs rounds=$rounds; medians (all rounds); per CPU-s: of the proxy process"
printf '%-22s %12s %12s %9s %14s %14s %9s\n' measure nginx spoonfeed ratio "nginx/CPU-s" "spoonfeed/CPU-s" ratio
for mode in keepalive handshakes; do
  n=$(echo "${results[nginx.$mode]}" | median); s=$(echo "${results[spoonfeed.$mode]}" | median)
  nc=$(echo "${cpu[nginx.$mode]}" | median); sc=$(echo "${cpu[spoonfeed.$mode]}" | median)
  label=$([ "$mode" = keepalive ] && echo "requests/s keep-alive" || echo "new connections/s")
  printf '%-22s %12s %12s %9s %14s %14s %9s\n' "$label" "$n" "$s" \
    "$(awk -v a="$s" -v b="$n" 'BEGIN { printf "%.2f", a/b }')" "$nc" "$sc" \
    "$(awk -v a="$sc" -v b="$nc" 'BEGIN { printf "%.2f", (b > 0) ? a/b : 0 }')"
done
