#!/usr/bin/env bash
# What buffering buys: CLIENTS slow clients (reading at RATE) each fetch BODY bytes from
# the bundled origin, through each proxy in turn and direct, and for each we print how long the
# origin (the "heavy backend") was held per request, how long the clients took, and the proxy's
# peak memory. A buffering proxy should hold the origin for about BODY at loopback speed
# (milliseconds) while its clients still take BODY/RATE; a streaming one holds the origin about
# as long as the client, less what the kernel's socket buffers absorb.
#
# Those socket buffers are large: Linux autotunes each TCP socket's up to tcp_wmem/tcp_rmem's
# maximum (4 MiB and more by default), so even direct the origin's last write of a 1 MiB answer
# returns at once, and every row looks alike. Buffering shows from a few MiB on, e.g.
# `slow-clients.sh 10 32M 4m` (32 MiB at 4 MiB/s: 8 s per client, as 1M at 128k).
#
# usage: tools/scripts/slow-clients.sh [--no-build] [--curl] [CLIENTS=50] [BODY=1M] [RATE=128k]
#   CLIENTS  concurrent clients, one request each
#   BODY     bytes per response: N, NK, NM or NG (KiB, MiB, GiB), as the origin's /bytes/N takes
#   RATE     per-client download rate, as curl's --limit-rate takes it (128k = 128 KiB/s)
#   --no-build  use target/release/{spoonfeed,origin,slow-client} as they are (default: build)
#   --curl   clients are `curl --limit-rate RATE` instead of the bundled slow-client. Beware:
#            curl (7.88 at least) averages its rate over seconds and reads whatever the kernel
#            holds at once, so on loopback it does not slow down bodies of a few MiB at all
#            (1 MiB "at 128k" ends in milliseconds). slow-client paces every 4 KiB read.
# needs: cargo, curl, taskset; nginx and haproxy are used when installed and skipped otherwise.
#
# Targets, one at a time, each a fresh process on CPU 0 (the origin and the clients on CPU 1):
#   spoonfeed            Workers 1, buffering on, room for one whole answer per response
#   spoonfeed-nobuf      the same with buffering=off on the ProxyPass (skipped if refused)
#   nginx                one worker, proxy_buffering on, the same room per response, no disk
#   haproxy              one thread, mode http, http-reuse always, default tune.bufsize
#   direct               the clients talk to the origin itself
# Both buffering proxies get the same per-response ceiling: BODY in 16 KiB blocks, at least
# 64 (1 MiB), plus one block for the head. Below it a proxy that buffers releases the origin as
# fast as it can read; above it both back-pressure by design, which is not what is measured.
# For BODY up to 1 MiB spoonfeed runs with its defaults (ProxyResponseBufferSize 1 MiB), with
# only Listen, Workers and ProxyPass in its configuration.
# All proxies keep upstream connections alive. For each: the origin's busy times are reset,
# the clients run, then GET /_origin/stats is read from the origin directly and VmHWM from
# /proc/PID/status of the proxy process (nginx's worker).
#
# Columns: origin busy p50/p99 (ms, head read to last write returned, per request), client
# time p50/p99 (s, connect to last byte read), proxy peak RSS (MiB), failures (not 200, short
# body, or a client error). Busy times come from the origin's own clock; see
# spoonfeed_tools::origin.
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

build=1 use_curl=0
args=()
for arg in "$@"; do
  case $arg in
    -h|--help) usage; exit 0 ;;
    --no-build) build=0 ;;
    --curl) use_curl=1 ;;
    -*) echo "slow-clients.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) args+=("$arg") ;;
  esac
done
[ ${#args[@]} -le 3 ] || { echo "slow-clients.sh: at most 3 arguments (see --help)" >&2; exit 2; }
clients=${args[0]:-50} body=${args[1]:-1M} rate=${args[2]:-128k}

[[ $clients =~ ^[1-9][0-9]*$ ]] || { echo "slow-clients.sh: CLIENTS $clients is not a positive number" >&2; exit 2; }
# The origin takes K, M and G in upper case only.
body=$(tr kmg KMG <<<"$body")
[[ $body =~ ^[1-9][0-9]{0,8}[KMG]?$ ]] || { echo "slow-clients.sh: BODY $body is not N, NK, NM or NG" >&2; exit 2; }
case $body in
  *K) body_bytes=$(( ${body%K} << 10 )) ;;
  *M) body_bytes=$(( ${body%M} << 20 )) ;;
  *G) body_bytes=$(( ${body%G} << 30 )) ;;
  *) body_bytes=$body ;;
esac
[[ $rate =~ ^[0-9]+[kKmMgG]?$ ]] || { echo "slow-clients.sh: RATE $rate is not like 128k" >&2; exit 2; }
rate_bytes=$(awk -v r="$rate" 'BEGIN { n = r + 0; u = tolower(substr(r, length(r)));
  print int(n * (u == "k" ? 1024 : u == "m" ? 1048576 : u == "g" ? 1073741824 : 1)) }')
[ "$rate_bytes" -gt 0 ] || { echo "slow-clients.sh: RATE must be more than 0" >&2; exit 2; }
for tool in curl taskset; do
  command -v "$tool" >/dev/null || { echo "slow-clients.sh: needs $tool" >&2; exit 1; }
done

top=$(cd "$(dirname "$0")/../.." && pwd)
# The root package is the workspace's default member: --workspace builds `origin` too.
if [ "$build" = 1 ]; then
  (cd "$top" && cargo build --release --workspace --bins) || { echo "slow-clients.sh: build failed (try --no-build with an earlier build)" >&2; exit 1; }
fi
spoonfeed=$top/target/release/spoonfeed origin_bin=$top/target/release/origin
slow_client=$top/target/release/slow-client
for bin in "$spoonfeed" "$origin_bin" "$slow_client"; do
  [ -x "$bin" ] || { echo "slow-clients.sh: no $bin: build first (cargo build --release --workspace --bins)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { echo "slow-clients.sh: $*" >&2; }

# A port nobody listens on. Not reserved: another program could take it before we bind, which
# shows as a failed start below.
taken_ports=" "
free_port() {
  local port
  for _ in $(seq 100); do
    port=$(( 20000 + RANDOM % 30000 ))
    case $taken_ports in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      taken_ports+="$port "
      echo "$port"
      return
    fi
  done
  say "no free port found"; exit 1
}

# Waits until http://127.0.0.1:PORT/bytes/1 answers 200, for at most 10 s; fails if PID exits.
wait_ready() {
  local port=$1 pid=$2
  for _ in $(seq 100); do
    curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/bytes/1" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The origin: every client and every pooled proxy connection holds a worker (a thread) of its
# own, so give it room for both and nobody queues at the origin.
workers=$(( 2 * clients + 16 ))
taskset -c 1 "$origin_bin" --listen 127.0.0.1:0 --workers "$workers" >"$work/origin.addr" 2>"$work/origin.err" &
origin_pid=$!
pids+=("$origin_pid")
for _ in $(seq 100); do [ -s "$work/origin.addr" ] && break; sleep 0.05; done
origin_addr=$(head -1 "$work/origin.addr")
[ -n "$origin_addr" ] || { say "origin did not start: $(cat "$work/origin.err")"; exit 1; }
origin_port=${origin_addr##*:}

stats() { curl -sf --max-time 5 "http://$origin_addr/_origin/stats"; }
# The member $2 of the object $1 in the stats JSON on stdin ("busy_us" cannot match inside
# "connection_busy_us": the quote before it differs).
json_field() { sed -n "s/.*\"$1\":{[^}]*\"$2\":\([0-9]*\).*/\1/p"; }
ms() { awk -v us="${1:-0}" 'BEGIN { printf "%.1f", us / 1000 }'; }
# Nearest-rank quantile $1 (0..1) of the numbers on stdin.
quantile() { sort -g | awk -v q="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
  r = int(q * NR); if (r < q * NR) r++; if (r < 1) r = 1; printf "%.2f", v[r] }'; }

# One curl client: prints "status size seconds exit_code".
fetch() {
  local out code=0
  out=$(taskset -c 1 curl --limit-rate "$rate" -s -o /dev/null --max-time "$max_time" \
    -w '%{http_code} %{size_download} %{time_total}' "$1") || code=$?
  echo "${out:-000 0 0} $code"
}
# CLIENTS clients at once against URL $1, one line each into $2: "status size seconds 0";
# failures show in the status and size.
run_clients() {
  local i client_pids=()
  if [ "$use_curl" = 1 ]; then
    for i in $(seq "$clients"); do
      fetch "$1" >>"$2" &
      client_pids+=($!)
    done
    for i in "${client_pids[@]}"; do wait "$i" || true; done
  else
    taskset -c 1 "$slow_client" --rate "$rate" --clients "$clients" --timeout "$max_time" "$1" \
      2>>"$work/slow-client.err" | sed 's/$/ 0/' >>"$2" || true
  fi
}
# Each client needs BODY/RATE; allow four times that plus a minute before curl gives up, so the
# run always ends by itself.
max_time=$(( 4 * body_bytes / rate_bytes + 60 ))

rows=()
row() { rows+=("$(printf '%-16s %9s %9s %9s %9s %9s %9s' "$@")"); }

# Runs the clients against PORT and adds a row for NAME; PID is the proxy process, or empty.
measure() {
  local name=$1 port=$2 pid=$3 results stats_json failures rss="-" count=""
  say "$name: $clients clients x $body at $rate"
  curl -sf --max-time 5 -X POST -o /dev/null "http://$origin_addr/_origin/stats/reset" \
    || { say "$name: cannot reset the origin's stats"; exit 1; }
  results=$work/$name.results
  : >"$results"
  run_clients "http://127.0.0.1:$port/bytes/$body" "$results"
  # A busy time is recorded just after the origin's last write returns: wait for all of them.
  for _ in $(seq 50); do
    stats_json=$(stats) || { say "cannot read the origin's stats"; exit 1; }
    count=$(json_field busy_us count <<<"$stats_json")
    [ "${count:-0}" -ge "$clients" ] && break
    sleep 0.1
  done
  [ "${count:-0}" -eq "$clients" ] || say "$name: the origin recorded $count requests, not $clients"
  failures=$(awk -v n="$body_bytes" '$1 != 200 || $2 != n || $4 != 0' "$results" | wc -l)
  failures=$(( failures + clients - $(wc -l <"$results") ))
  if [ -n "$pid" ]; then
    rss=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "?")
  fi
  row "$name" "$(ms "$(json_field busy_us p50 <<<"$stats_json")")" \
    "$(ms "$(json_field busy_us p99 <<<"$stats_json")")" \
    "$(awk '{ print $3 }' "$results" | quantile 0.5)" "$(awk '{ print $3 }' "$results" | quantile 0.99)" \
    "$rss" "$failures"
}
# Stops a process this script started and forgets it.
stop() {
  local pid kept=()
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=("${kept[@]}")
}

# The per-response ceiling of the buffering proxies (see the top): body blocks, then a head block.
block=16384
body_blocks=$(( (body_bytes + block - 1) / block ))
[ "$body_blocks" -ge 64 ] || body_blocks=64
ceiling=$(( (body_blocks + 1) * block ))
# spoonfeed's directives, only where its defaults fall short: its pool (one per reactor) must
# hold every client's answer at once, or it back-pressures at its cap (256 MiB by default)
# instead of at the per-response ceiling.
spoonfeed_buffers=""
if [ "$body_bytes" -gt $(( 1 << 20 )) ]; then
  spoonfeed_buffers="ProxyResponseBufferSize $ceiling"
fi
pool=$(( clients * (ceiling + block) ))
if [ "$pool" -gt $(( 256 << 20 )) ]; then
  spoonfeed_buffers+="${spoonfeed_buffers:+$'\n'}ProxyBufferPoolSize $pool"
fi

# (a) and (b): spoonfeed, with and without buffering.
for variant in spoonfeed spoonfeed-nobuf; do
  port=$(free_port)
  keys=""
  [ "$variant" = spoonfeed-nobuf ] && keys=" buffering=off"
  cat >"$work/$variant.conf" <<CONF
Listen 127.0.0.1:$port
Workers 1
ProxyPass / http://127.0.0.1:$origin_port/$keys
CONF
  [ -z "$spoonfeed_buffers" ] || echo "$spoonfeed_buffers" >>"$work/$variant.conf"
  if ! "$spoonfeed" -t -f "$work/$variant.conf" >"$work/$variant.check" 2>&1; then
    say "$variant: this spoonfeed refuses the configuration, skipped: $(tr '\n' ' ' <"$work/$variant.check")"
    say "$variant: the configuration was: $(tr '\n' ';' <"$work/$variant.conf")"
    row "$variant" "refused" - - - - -
    continue
  fi
  taskset -c 0 "$spoonfeed" -f "$work/$variant.conf" 2>"$work/$variant.err" &
  pid=$!
  pids+=("$pid")
  if ! wait_ready "$port" "$pid"; then
    say "$variant: did not start: $(tail -3 "$work/$variant.err")"
    stop "$pid"; row "$variant" "no start" - - - - -; continue
  fi
  measure "$variant" "$port" "$pid"
  stop "$pid"
done

# (c) nginx. Fairness: spoonfeed holds up to ProxyResponseBufferSize of one response in memory
# and never spills to disk, so nginx gets the same: a 16 KiB head buffer (proxy_buffer_size)
# and the body blocks as proxy_buffers (64 x 16k for BODY up to 1 MiB), and no temporary file
# (proxy_max_temp_file_size 0: with nginx's default of 1 GiB on disk it would release the origin
# for any body by writing it to disk, which spoonfeed does not do). proxy_busy_buffers_size is
# what may be on its way to the client at once; 32k is two blocks, as spoonfeed writes.
if command -v nginx >/dev/null; then
  port=$(free_port)
  mkdir -p "$work/nginx-temp"
  cat >"$work/nginx.conf" <<CONF
worker_processes 1; daemon on; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $work/nginx-temp; proxy_temp_path $work/nginx-temp;
  fastcgi_temp_path $work/nginx-temp; uwsgi_temp_path $work/nginx-temp; scgi_temp_path $work/nginx-temp;
  upstream origin { server 127.0.0.1:$origin_port; keepalive $clients; }
  server { listen 127.0.0.1:$port;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffering on; proxy_buffer_size 16k; proxy_buffers $body_blocks 16k; proxy_busy_buffers_size 32k;
      proxy_max_temp_file_size 0; proxy_read_timeout 300s; proxy_send_timeout 300s; } } }
CONF
  if taskset -c 0 nginx -c "$work/nginx.conf" -p "$work" 2>"$work/nginx.start"; then
    worker=""
    for _ in $(seq 50); do
      worker=$(pgrep -P "$(cat "$work/nginx.pid" 2>/dev/null || echo 0)" | head -1 || true)
      [ -n "$worker" ] && break; sleep 0.1
    done
    if [ -n "$worker" ] && wait_ready "$port" "$worker"; then
      measure nginx "$port" "$worker"
    else
      say "nginx: did not start: $(cat "$work/nginx.err" 2>/dev/null)"; row nginx "no start" - - - - -
    fi
    kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$work/nginx.pid" ] || break; sleep 0.1; done
  else
    say "nginx: did not start: $(cat "$work/nginx.start")"; row nginx "no start" - - - - -
  fi
else
  say "nginx not installed, skipped (apt-get install -y nginx)"
  row nginx "absent" - - - - -
fi

# (d) HAProxy: it streams through one buffer (tune.bufsize, 16 KiB) per direction by design, so
# it is here at its defaults, as the non-buffering proxy people actually deploy.
if command -v haproxy >/dev/null; then
  port=$(free_port)
  cat >"$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  http-reuse always
frontend clients
  bind 127.0.0.1:$port
  default_backend origin
backend origin
  server origin 127.0.0.1:$origin_port
CONF
  # -db: stay in the foreground as one process, so $! is the process that serves.
  taskset -c 0 haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.err" 2>&1 &
  pid=$!
  pids+=("$pid")
  if wait_ready "$port" "$pid"; then
    measure haproxy "$port" "$pid"
  else
    say "haproxy: did not start: $(tail -3 "$work/haproxy.err")"; row haproxy "no start" - - - - -
  fi
  stop "$pid"
else
  say "haproxy not installed, skipped (apt-get install -y haproxy)"
  row haproxy "absent" - - - - -
fi

# (e) direct.
measure direct "$origin_port" ""

client=slow-client; [ "$use_curl" = 1 ] && client="curl --limit-rate"
echo "clients=$clients body=$body rate=$rate ($client) origin workers=$workers"
echo "per response: nginx 16k + $body_blocks x 16k; spoonfeed ${spoonfeed_buffers:-its defaults}" | tr '\n' ' '
echo
echo "CPU 0: the proxy; CPU 1: the origin and the clients"
printf '%-16s %9s %9s %9s %9s %9s %9s\n' target "busy p50" "busy p99" "client" "client" "peak RSS" failures
printf '%-16s %9s %9s %9s %9s %9s %9s\n' "" "ms" "ms" "p50 s" "p99 s" "MiB" ""
printf '%s\n' "${rows[@]}"
