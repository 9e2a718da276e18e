#!/usr/bin/env bash
# The serve benchmark: one page of one site directory served three ways, loaded by wrk with the
# same parameters, in one run:
#   1. tally serve --no-pipeline   (static files only)
#   2. tally serve                 (every request through the local pipeline, throwaway data dir)
#   3. nginx                       (Debian's package, minimal config, same files)
# Prints requests/s and p99 latency of each, and the pipeline's cost in % of throughput.
# See bench/serve/README.md. Usage: bench/serve/run.sh   (as root on Debian, for apt-get)
#
# Settings (environment): DURATION (15s), WARMUP (3s), THREADS (1), CONNECTIONS (32),
# ROUNDS (1; with more, the legs are interleaved and the median is reported),
# TALLY (a built tally binary; default: cargo build --release -p tally), PAGE (/).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-1}
PAGE=${PAGE:-/}
# A browser's user agent, so the pipeline sees human page views, not an empty-agent bot.
UA='Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# --- tools -------------------------------------------------------------------------------------
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt-get)"
  [ "$(id -u)" = 0 ] || die "need root to install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ -z "${TALLY:-}" ]; then
  say "building tally (release; this takes a while the first time)"
  (cd "$ROOT" && cargo build --release -p tally --locked)
  TALLY=${CARGO_TARGET_DIR:-$ROOT/target}/release/tally
fi
[ -x "$TALLY" ] || die "no tally binary at $TALLY"
HAVE_SERVE=1
if ! "$TALLY" serve --help >/dev/null 2>&1; then
  HAVE_SERVE=0
  say "this tally has no 'serve' command: only the nginx leg runs"
fi

# --- the site (same files for every leg) -------------------------------------------------------
WORK=$(mktemp -d /tmp/tally-bench.XXXXXX)
# Servers this script started, one pid a line (legs run in subshells, so not an array).
PIDS=$WORK/pids
cleanup() {
  if [ -f "$PIDS" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$PIDS"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
SITE=$WORK/site
mkdir -p "$SITE/about" "$SITE/css"
{
  echo '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Benchmark page</title>'
  echo '<link rel="stylesheet" href="/css/site.css"></head><body><h1>Benchmark page</h1>'
  for i in $(seq 1 40); do
    echo "<p>Paragraph $i of a typical static page: a few lines of text, a link to <a href=\"/about/\">about</a>, and nothing else that costs to serve.</p>"
  done
  echo '</body></html>'
} >"$SITE/index.html"
echo '<!doctype html><title>About</title><p>About.</p>' >"$SITE/about/index.html"
echo '<!doctype html><title>Not found</title><p>Not found.</p>' >"$SITE/404.html"
echo 'body { font-family: sans-serif; max-width: 40em; margin: auto }' >"$SITE/css/site.css"
chmod -R a+rX "$WORK"
say "site: $(wc -c <"$SITE/index.html") byte page at $PAGE"

free_port() {
  local port
  for port in $(seq "$1" $(($1 + 200))); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free port from $1"
}

wait_for_port() {
  local port=$1 pid=$2
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Stops a server the script started: SIGTERM, then waits (a draining tally serve may take a while).
stop() {
  local pid=$1
  sed -i "/^$pid\$/d" "$PIDS"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 3000); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  say "pid $pid still running after 300 s: killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# Runs wrk against a port; prints "requests_per_s p99_ms requests non2xx socket_errors sent",
# where requests counts the measured run and sent the warm-up too.
load() {
  local port=$1 out warm
  # The previous leg's drain leaves dirty pages (archive, counters, spool): write them back now,
  # not while this leg is measured.
  sync
  sleep 1
  warm=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -H "User-Agent: $UA" "http://127.0.0.1:$port$PAGE" |
    awk '/requests in/ { print $1 }')
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "User-Agent: $UA" \
    "http://127.0.0.1:$port$PAGE")
  printf '%s\n' "$out" >>"$WORK/wrk.log"
  printf '%s\n' "$out" | awk -v warm="$warm" '
    function ms(v) {
      if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
      if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
      if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
      return v + 0
    }
    $1 == "99%"              { p99 = ms($2) }
    /requests in/            { total = $1 }
    /^Requests\/sec:/        { rps = $2 }
    /Non-2xx or 3xx/         { non2xx = $NF }
    /Socket errors/          { errors = $0; gsub(/[^0-9 ]/, "", errors); split(errors, e, " +"); n = 0; for (i in e) n += e[i]; sockerr = n }
    END { printf "%.1f %.3f %d %d %d %d\n", rps, p99, total, non2xx, sockerr, total + warm }'
}

# --- the legs ----------------------------------------------------------------------------------
leg_tally() {
  local name=$1 port data pid
  shift
  port=$(free_port 18080)
  data=$WORK/data-$name-$RANDOM
  "$TALLY" serve "$SITE" --addr "127.0.0.1:$port" --data "$data" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  pid=$!
  echo "$pid" >>"$PIDS"
  for _ in $(seq 1 600); do
    grep -q '^tally serve: http://' "$WORK/$name.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$WORK/$name.err" >&2; die "tally serve ($name) exited"; }
    sleep 0.1
  done
  grep -q '^tally serve: http://' "$WORK/$name.out" || die "tally serve ($name) never said it was ready"
  local result t0 t1
  result=$(load "$port")
  # The drain: SIGTERM until exit (with the pipeline on, the spooled backlog is run first).
  t0=$(date +%s.%N)
  stop "$pid"
  t1=$(date +%s.%N)
  local drain
  drain=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  # What the pipeline kept: page views in the archive after the drain.
  local archived=-
  if [ "$name" = pipeline ]; then
    archived=$("$TALLY" query "SELECT count(*) AS n FROM page_views" --data "$data" --format csv 2>/dev/null |
      tail -n 1 || echo "?")
  fi
  echo "$result $archived $drain"
}

leg_nginx() {
  local port pid
  port=$(free_port 18380)
  mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
  cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  etag on;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $SITE;
    index index.html;
    error_page 404 /404.html;
    location / { try_files \$uri \$uri/ =404; }
  }
}
CONF
  chmod -R a+rwX "$WORK/nginx/tmp"
  "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx/start.err" &
  pid=$!
  echo "$pid" >>"$PIDS"
  wait_for_port "$port" "$pid" || { cat "$WORK/nginx/start.err" >&2; die "nginx did not start"; }
  local result
  result=$(load "$port")
  stop "$pid"
  echo "$result - -"
}

declare -A RUNS
legs=(nginx)
[ "$HAVE_SERVE" = 1 ] && legs=(off pipeline nginx)
say "wrk: $THREADS thread(s), $CONNECTIONS connections, $WARMUP warm-up then $DURATION, $ROUNDS round(s)"
for round in $(seq 1 "$ROUNDS"); do
  for leg in "${legs[@]}"; do
    say "round $round: $leg"
    case $leg in
      off) RUNS[$leg.$round]=$(leg_tally off --no-pipeline) ;;
      pipeline) RUNS[$leg.$round]=$(leg_tally pipeline) ;;
      nginx) RUNS[$leg.$round]=$(leg_nginx) ;;
    esac
    say "  ${RUNS[$leg.$round]}"
  done
done

# The median round of a leg by requests/s.
median() {
  local leg=$1
  for round in $(seq 1 "$ROUNDS"); do echo "${RUNS[$leg.$round]}"; done |
    sort -n -k1,1 | sed -n "$(((ROUNDS + 1) / 2))p"
}

printf '\n| server | requests/s | p99 latency (ms) | requests | non-2xx | socket errors | sent with warm-up | page views archived | stop (s) |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
declare -A RPS
for leg in "${legs[@]}"; do
  read -r rps p99 total non2xx sockerr sent archived drain <<<"$(median "$leg")"
  RPS[$leg]=$rps
  case $leg in
    off) label='tally serve --no-pipeline' ;;
    pipeline) label='tally serve (pipeline on)' ;;
    nginx) label="nginx $("$NGINX" -v 2>&1 | sed 's|.*nginx/||')" ;;
  esac
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$rps" "$p99" "$total" "$non2xx" "$sockerr" "$sent" "$archived" "$drain"
done
if [ "$HAVE_SERVE" = 1 ]; then
  awk -v off="${RPS[off]}" -v on="${RPS[pipeline]}" 'BEGIN {
    cost = off > 0 ? (off - on) / off * 100 : 0
    printf "\npipeline cost: %.1f%% of throughput (target: under 10%%)\n", cost }'
fi
if [ "$HAVE_SERVE" = 1 ] && [ "$ROUNDS" -gt 1 ]; then
  # Each round's own cost (its off and pipeline legs ran back to back), and their median.
  costs=$(for round in $(seq 1 "$ROUNDS"); do
    awk -v off="${RUNS[off.$round]%% *}" -v on="${RUNS[pipeline.$round]%% *}" \
      'BEGIN { printf "%.1f\n", (off > 0 ? (off - on) / off * 100 : 0) }'
  done)
  printf 'cost per round: %s (median %s%%)\n' \
    "$(echo "$costs" | sed 's/$/%/' | paste -sd ' ')" \
    "$(echo "$costs" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")"
fi
printf '\nmachine: %s cores, %s; wrk %s thread(s), %s connections, %s per leg\n' \
  "$(nproc)" "$(uname -sr)" "$THREADS" "$CONNECTIONS" "$DURATION"
