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
# `slow-clients.sh 10 32M 4m` (32 MiB at 4 MiB/s: 8 s per client, as 1M at 128k), or with
# --sndbuf, which fixes the send buffers of the proxies' client sockets and of the origin's
# sockets: `slow-clients.sh --sndbuf 64k`.
#
# usage: tools/scripts/slow-clients.sh [--no-build] [--curl] [--sndbuf SIZE] [--splice MODE]
#                                      [CLIENTS=50] [BODY=1M] [RATE=128k]
#   CLIENTS  concurrent clients, one request each
#   BODY     bytes per response: N, NK, NM or NG (KiB, MiB, GiB), as the origin's /bytes/N takes
#   RATE     per-client download rate, as curl's --limit-rate takes it (128k = 128 KiB/s)
#   --no-build  use target/release/{spoonfeed,origin,slow-client} as they are (default: build)
#   --sndbuf SIZE  fix SO_SNDBUF to SIZE (N, Nk or Nm bytes, at least 64k) on every proxy's
#            client sockets, each with its own setting: spoonfeed `SendBufferSize SIZE`, nginx
#            `listen ... sndbuf=SIZE`, HAProxy `tune.sndbuf.client SIZE`; and on the origin's
#            sockets (`origin --sndbuf SIZE`), so the origin stays busy, as a heavy backend
#            does, until its peer (the proxy, or the client direct) has taken all but about SIZE
#            of its answer. Without it the origin's send buffers autotune to 4 MiB, its last
#            write of a 1 MiB answer returns at once whoever reads it, and every row's busy
#            time looks alike. `direct` is then a row with SIZE too: its client sockets are the
#            origin's. The proxies' backend receive buffers stay autotuned in every row. Not
#            below 64k: over loopback (64 KiB MTU) a smaller send buffer waits for a delayed
#            ACK on every segment. Linux doubles SO_SNDBUF and caps it at net.core.wmem_max
#            silently (for nginx, HAProxy and the origin), so larger sizes are refused here.
#   --splice MODE  add `ProxySplice MODE` (Off, On or Auto) to spoonfeed's configuration, in
#            both spoonfeed rows (default: not set, so spoonfeed's default, Auto, which splices
#            bodies of at least 64 KiB that fit in one pipe: 1M bodies are spliced). Spliced
#            bodies wait in pipe buffers, kernel memory that spoonfeed's peak RSS does not
#            count, where nginx holds its bodies in its own buffers (in its RSS): for an RSS
#            comparable with nginx's, use --splice Off, which keeps every body in spoonfeed's
#            blocks.
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
# only Listen, Workers and ProxyPass in its configuration, and SendBufferSize and ProxySplice
# when --sndbuf and --splice ask; the line above the table shows it as it ran.
# All proxies keep upstream connections alive. For each: the origin's busy times are reset,
# the clients run, then GET /_origin/stats is read from the origin directly and VmHWM from
# /proc/PID/status of the proxy process (nginx's worker).
#
# Columns: origin busy p50/p99 (ms, head read to last write returned, per request), client
# time p50/p99 (s, connect to last byte read), proxy peak RSS (MiB), failures (not 200, short
# body, or a client error), and the send buffer the clients' sockets really had: `tb` of
# `ss -tmi` (skmem) on the target's side of the client connections, in KiB, lowest-highest over
# those open at one moment mid-run ("?" if none was seen). Linux reports twice the SO_SNDBUF
# asked for, so --sndbuf 64k shows 128; an autotuned socket shows whatever it has grown to.
# With --sndbuf, a target whose sockets do not show 2 x SIZE is named on stderr, and the line
# above the table shows the origin's send buffer as the kernel reports it (`send_buffer` in its
# stats). To check by hand while clients run: ss -tmi state established '( sport = :PORT )'.
# Busy times come from the origin's own clock; see spoonfeed_origin.
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

build=1 use_curl=0 sndbuf="" splice=""
args=()
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --no-build) build=0 ;;
    --curl) use_curl=1 ;;
    --sndbuf=*) sndbuf=${1#--sndbuf=} ;;
    --sndbuf)
      [ $# -ge 2 ] || { echo "slow-clients.sh: --sndbuf needs a SIZE, like 64k" >&2; exit 2; }
      sndbuf=$2; shift ;;
    --splice=*) splice=${1#--splice=} ;;
    --splice)
      [ $# -ge 2 ] || { echo "slow-clients.sh: --splice needs a MODE: Off, On or Auto" >&2; exit 2; }
      splice=$2; shift ;;
    -*) echo "slow-clients.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) args+=("$1") ;;
  esac
  shift
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
# --sndbuf in bytes, the unit all three proxies take; empty: the OS default everywhere.
sndbuf_bytes=""
if [ -n "$sndbuf" ]; then
  [[ $sndbuf =~ ^[1-9][0-9]{0,9}[kKmM]?$ ]] || { echo "slow-clients.sh: --sndbuf $sndbuf is not N, Nk or Nm" >&2; exit 2; }
  case $sndbuf in
    *[kK]) sndbuf_bytes=$(( ${sndbuf%?} << 10 )) ;;
    *[mM]) sndbuf_bytes=$(( ${sndbuf%?} << 20 )) ;;
    *) sndbuf_bytes=$sndbuf ;;
  esac
  if [ "$sndbuf_bytes" -lt 65536 ]; then
    echo "slow-clients.sh: --sndbuf $sndbuf is below 64k: over loopback (64 KiB MTU) a smaller send buffer waits for a delayed ACK on every segment, which is what would be measured" >&2
    exit 2
  fi
  wmem_max=$(cat /proc/sys/net/core/wmem_max 2>/dev/null || echo 0)
  if [ "$wmem_max" -gt 0 ] && [ "$sndbuf_bytes" -gt "$wmem_max" ]; then
    echo "slow-clients.sh: --sndbuf $sndbuf is above net.core.wmem_max ($wmem_max): Linux would cap it (sysctl -w net.core.wmem_max=$sndbuf_bytes)" >&2
    exit 2
  fi
fi
if [ -n "$splice" ]; then
  case ${splice,,} in
    off) splice=Off ;;
    on) splice=On ;;
    auto) splice=Auto ;;
    *) echo "slow-clients.sh: --splice $splice is not Off, On or Auto" >&2; exit 2 ;;
  esac
fi
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

# A port no socket uses. Not reserved: another program could take it before we bind, which
# shows as a failed start below. Taken below the kernel's ephemeral range (for connections'
# local ports), where possible: a port in it can be the local port of a client connection from
# an earlier target, which makes a bind fail, or, with SO_REUSEADDR (HAProxy), succeed and
# mix that socket into the ss sample of the send buffers.
read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || ephemeral_low=32768
port_low=10000 port_span=$(( ephemeral_low - 10000 ))
[ "$port_span" -ge 1000 ] || { port_low=20000 port_span=30000; }
taken_ports=" "
free_port() {
  local port
  for _ in $(seq 100); do
    port=$(( port_low + RANDOM % port_span ))
    case $taken_ports in *" $port "*) continue ;; esac
    if command -v ss >/dev/null && [ -n "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]; then
      continue
    fi
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
# own, so give it room for both and nobody queues at the origin. With --sndbuf its sockets get
# SIZE too.
workers=$(( 2 * clients + 16 ))
origin_args=(--listen 127.0.0.1:0 --workers "$workers")
[ -z "$sndbuf_bytes" ] || origin_args+=(--sndbuf "$sndbuf_bytes")
taskset -c 1 "$origin_bin" "${origin_args[@]}" >"$work/origin.addr" 2>"$work/origin.err" &
origin_pid=$!
pids+=("$origin_pid")
for _ in $(seq 100); do [ -s "$work/origin.addr" ] && break; sleep 0.05; done
origin_addr=$(head -1 "$work/origin.addr")
[ -n "$origin_addr" ] || { say "origin did not start: $(cat "$work/origin.err")"; exit 1; }
origin_port=${origin_addr##*:}

stats() { curl -sf --max-time 5 "http://$origin_addr/_origin/stats"; }
# The origin's send buffer as the kernel reports it for its latest connection (bytes, from its
# stats; empty without --sndbuf, or before any connection).
origin_send_buffer() { stats | sed -n 's/.*"send_buffer":\([0-9]*\).*/\1/p'; }
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
row() { rows+=("$(printf '%-16s %9s %9s %9s %9s %9s %9s %9s' "$@")"); }

# The send buffers (skmem tb, bytes) of the connected sockets on local port $1, one a line.
# Not only established ones: a socket whose side has closed with its answer still queued (the
# origin's, direct) is in FIN-WAIT-1 until the client has read it all.
send_buffers() {
  taskset -c 1 ss -Htmi state connected exclude time-wait "( sport = :$1 )" 2>/dev/null \
    | grep -o ',tb[0-9]*' | cut -c4- || true
}
# While the client job $2 runs, samples the send buffers of the client sockets on port $1 into
# $3: the first moment all CLIENTS are connected, once they have run a second (autotuned
# buffers grow), else the last moment any were. A few ss calls per target, on CPU 1.
sample_send_buffers() {
  local port=$1 job=$2 out=$3 now n start=$SECONDS
  command -v ss >/dev/null || return 0
  while kill -0 "$job" 2>/dev/null; do
    now=$(send_buffers "$port")
    n=$(grep -c . <<<"$now" || true)
    if [ "$n" -gt 0 ]; then
      echo "$now" >"$out"
      [ "$n" -ge "$clients" ] && [ $(( SECONDS - start )) -ge 1 ] && return 0
    fi
    sleep 0.2
  done
}
# "lowest-highest" (or one number) of the send buffers in file $1, in KiB; "?" if none.
send_buffer_range() {
  sort -n "$1" 2>/dev/null | awk 'NR == 1 { lo = $1 } { hi = $1 }
    END { if (NR == 0) { print "?"; exit } lo = int(lo / 1024); hi = int(hi / 1024)
      if (lo == hi) print lo; else print lo "-" hi }'
}

# Runs the clients against PORT and adds a row for NAME; PID is the proxy process, or empty.
measure() {
  local name=$1 port=$2 pid=$3 results stats_json failures rss="-" count="" job tb
  say "$name: $clients clients x $body at $rate"
  curl -sf --max-time 5 -X POST -o /dev/null "http://$origin_addr/_origin/stats/reset" \
    || { say "$name: cannot reset the origin's stats"; exit 1; }
  results=$work/$name.results
  : >"$results"
  run_clients "http://127.0.0.1:$port/bytes/$body" "$results" &
  job=$!
  : >"$work/$name.tb"
  sample_send_buffers "$port" "$job" "$work/$name.tb"
  wait "$job" || true
  tb=$(send_buffer_range "$work/$name.tb")
  # With --sndbuf every target's client sockets have SIZE: the proxies' and, direct, the origin's.
  if [ -n "$sndbuf_bytes" ]; then
    if [ ! -s "$work/$name.tb" ]; then
      say "$name: could not read its client sockets' send buffers (ss); --sndbuf unchecked"
    elif awk -v want=$(( 2 * sndbuf_bytes )) '$1 != want { bad = 1 } END { exit !bad }' "$work/$name.tb"; then
      say "$name: its client sockets have tb $tb KiB, not $(( 2 * sndbuf_bytes / 1024 )) (2 x --sndbuf $sndbuf): the setting did not take"
    fi
  fi
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
    "$rss" "$failures" "$tb"
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
  [ -z "$sndbuf_bytes" ] || echo "SendBufferSize $sndbuf_bytes" >>"$work/$variant.conf"
  [ -z "$splice" ] || echo "ProxySplice $splice" >>"$work/$variant.conf"
  if ! "$spoonfeed" -t -f "$work/$variant.conf" >"$work/$variant.check" 2>&1; then
    say "$variant: this spoonfeed refuses the configuration, skipped: $(tr '\n' ' ' <"$work/$variant.check")"
    say "$variant: the configuration was: $(tr '\n' ';' <"$work/$variant.conf")"
    row "$variant" "refused" - - - - - -
    continue
  fi
  taskset -c 0 "$spoonfeed" -f "$work/$variant.conf" 2>"$work/$variant.err" &
  pid=$!
  pids+=("$pid")
  if ! wait_ready "$port" "$pid"; then
    say "$variant: did not start: $(tail -3 "$work/$variant.err")"
    stop "$pid"; row "$variant" "no start" - - - - - -; continue
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
  server { listen 127.0.0.1:$port${sndbuf_bytes:+ sndbuf=$sndbuf_bytes};
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
      # The row counts the worker, which does all the work; the master only forks it.
      say "nginx: peak RSS of the master (not in the row): $(awk '/^VmHWM:/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$(cat "$work/nginx.pid")/status" 2>/dev/null || echo "?")"
    else
      say "nginx: did not start: $(cat "$work/nginx.err" 2>/dev/null)"; row nginx "no start" - - - - - -
    fi
    kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$work/nginx.pid" ] || break; sleep 0.1; done
  else
    say "nginx: did not start: $(cat "$work/nginx.start")"; row nginx "no start" - - - - - -
  fi
else
  say "nginx not installed, skipped (apt-get install -y nginx)"
  row nginx "absent" - - - - - -
fi

# (d) HAProxy: it streams through one buffer (tune.bufsize, 16 KiB) per direction by design, so
# it is here at its defaults, as the non-buffering proxy people actually deploy.
if command -v haproxy >/dev/null; then
  port=$(free_port)
  cat >"$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
${sndbuf_bytes:+  tune.sndbuf.client $sndbuf_bytes}
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
    say "haproxy: did not start: $(tail -3 "$work/haproxy.err")"; row haproxy "no start" - - - - - -
  fi
  stop "$pid"
else
  say "haproxy not installed, skipped (apt-get install -y haproxy)"
  row haproxy "absent" - - - - - -
fi

# (e) direct.
measure direct "$origin_port" ""

origin_sndbuf=""
if [ -n "$sndbuf_bytes" ]; then
  origin_sndbuf=$(origin_send_buffer || true)
  [ "$origin_sndbuf" = $(( 2 * sndbuf_bytes )) ] \
    || say "origin: its sockets have SO_SNDBUF ${origin_sndbuf:-?} by its stats, not $(( 2 * sndbuf_bytes )) (2 x --sndbuf $sndbuf): the setting did not take"
fi

client=slow-client; [ "$use_curl" = 1 ] && client="curl --limit-rate"
echo "clients=$clients body=$body rate=$rate ($client) origin workers=$workers"
echo "per response: nginx 16k + $body_blocks x 16k; spoonfeed ${spoonfeed_buffers:-its defaults}" | tr '\n' ' '
echo
# spoonfeed's configuration as it ran, but for Listen (a random port).
if [ -f "$work/spoonfeed.conf" ]; then
  splice_note=""
  [ -n "$splice" ] || splice_note=" (no ProxySplice: its default, Auto)"
  echo "spoonfeed: $(grep -v '^Listen ' "$work/spoonfeed.conf" | paste -sd ';' | sed 's/;/; /g')$splice_note; spoonfeed-nobuf: the same with buffering=off"
fi
echo "CPU 0: the proxy; CPU 1: the origin and the clients"
if [ -n "$sndbuf_bytes" ]; then
  echo "SO_SNDBUF: $sndbuf ($sndbuf_bytes bytes) on every proxy's client sockets and on the origin's (kernel: ${origin_sndbuf:-?}), direct included; proxies' backend receive buffers autotuned"
else
  echo "SO_SNDBUF: the OS default (autotuned) everywhere, the origin's included"
fi
printf '%-16s %9s %9s %9s %9s %9s %9s %9s\n' target "busy p50" "busy p99" "client" "client" "peak RSS" failures "sndbuf"
printf '%-16s %9s %9s %9s %9s %9s %9s %9s\n' "" "ms" "ms" "p50 s" "p99 s" "MiB" "" "tb KiB"
printf '%s\n' "${rows[@]}"
