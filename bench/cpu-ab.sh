#!/usr/bin/env bash
# CPU per request of two builds of the service, side by side: the figure that
# settles "did this change make a request more expensive?" on a machine whose
# throughput drifts with its neighbours. Each build runs as one worker
# (node dist/server/main.js, no pm2) on its own database of the PostgreSQL at
# DATABASE_URL_BASE; wrk (closed loop, 32 connections, POST /) drives them in
# alternating rounds, and each round reads the worker's user+system CPU from
# /proc before and after. The medians over the rounds are what to compare;
# throughput is printed too but moves with the machine.
#
#   bench/cpu-ab.sh <checkout A> <checkout B> [rounds] [seconds per round]
#
# Each checkout needs node_modules and is built here (tsc). Needs wrk and a
# PostgreSQL the current user can create databases on, e.g.
#   DATABASE_URL_BASE=postgres://postgres@127.0.0.1:5432 bench/cpu-ab.sh . ../other
# COUNTER_ALLOCATOR (default coalescing) picks the counter. Traffic goes to
# 127.0.0.1 only; both workers are stopped on exit.
set -euo pipefail

a=${1:?checkout A}
b=${2:?checkout B}
rounds=${3:-8}
seconds=${4:-5}
base=${DATABASE_URL_BASE:?DATABASE_URL_BASE, e.g. postgres://postgres@127.0.0.1:5432}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install -y wrk)" >&2; exit 2; }
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 1 && $rounds -le 50 ]] || { echo "rounds: 1-50" >&2; exit 2; }
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 1 && $seconds -le 60 ]] || { echo "seconds: 1-60" >&2; exit 2; }

work=$(mktemp -d /tmp/cpu-ab.XXXXXX)
pids=()
databases=()
sql() { # checkout statement (pg from the checkout's node_modules)
  (cd "$1" && node -e 'const {Client}=require("pg");const c=new Client({connectionString:process.argv[1]});c.connect().then(()=>c.query(process.argv[2])).then(()=>c.end(),e=>{console.error(e.message);process.exit(1)})' "$base/postgres" "$2")
}
cleanup() {
  local pid entry
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do timeout 30 tail --pid="$pid" -f /dev/null 2>/dev/null || true; done
  for entry in "${databases[@]}"; do sql "${entry% *}" "drop database if exists ${entry#* }" || true; done
  rm -rf "$work"
}
trap cleanup EXIT

printf 'wrk.method = "POST"\n' >"$work/post.lua"

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

start() { # name checkout -> prints "pid port"
  local name=$1 dir=$2 port metrics db
  (cd "$dir" && npx tsc -p tsconfig.build.json) >&2
  db="cpu_ab_${name}_$$"
  sql "$dir" "create database $db"
  port=$(free_port)
  metrics=$(free_port)
  mkdir -p "$work/$name-journal"
  (cd "$dir" && DATABASE_URL="$base/$db" PORT=$port HTTPS_PORT=0 METRICS_PORT=$metrics \
    COUNTER_ALLOCATOR=${COUNTER_ALLOCATOR:-coalescing} JOURNAL_DIR="$work/$name-journal" NODE_ENV=production \
    exec node dist/server/main.js >/dev/null 2>"$work/$name.err") &
  echo "$! $port"
}

ready() { # port
  local i
  for i in $(seq 1 100); do
    curl -fs -o /dev/null -X POST "http://127.0.0.1:$1/" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "service on :$1 did not answer within 20 s" >&2
  return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

round() { # pid port -> "requests cpu_us_per_request"
  local pid=$1 port=$2 t0 t1 out n
  t0=$(cpu_ticks "$pid")
  out=$(wrk -t1 -c32 -d"${seconds}s" -s "$work/post.lua" "http://127.0.0.1:$port/")
  t1=$(cpu_ticks "$pid")
  if grep -q 'Non-2xx' <<<"$out"; then echo "non-2xx answers from :$port" >&2; return 1; fi
  n=$(awk '/requests in/{print $1}' <<<"$out")
  echo "$n $(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / n ))"
}

databases=("$a cpu_ab_a_$$" "$b cpu_ab_b_$$")
read -r pid_a port_a < <(start a "$a")
pids+=("$pid_a")
read -r pid_b port_b < <(start b "$b")
pids+=("$pid_b")
ready "$port_a"
ready "$port_b"
# JIT warm-up, not counted.
wrk -t1 -c32 -d3s -s "$work/post.lua" "http://127.0.0.1:$port_a/" >/dev/null
wrk -t1 -c32 -d3s -s "$work/post.lua" "http://127.0.0.1:$port_b/" >/dev/null

: >"$work/a" && : >"$work/b"
for i in $(seq 1 "$rounds"); do
  round "$pid_a" "$port_a" >>"$work/a"
  round "$pid_b" "$port_b" >>"$work/b"
  echo "round $i: A $(tail -1 "$work/a" | cut -d' ' -f2) µs, B $(tail -1 "$work/b" | cut -d' ' -f2) µs" >&2
done

summary() { # name file
  sort -n -k2 "$2" | awk -v name="$1" -v secs="$seconds" '
    { n[NR] = $1; c[NR] = $2 }
    END { m = int((NR + 1) / 2); printf "%s: CPU per request median %d µs (min %d, max %d); %d requests/s in the median round\n", name, c[m], c[1], c[NR], n[m] / secs }'
}
echo "$(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${rounds} rounds of ${seconds} s, COUNTER_ALLOCATOR=${COUNTER_ALLOCATOR:-coalescing}"
summary "A $(git -C "$a" rev-parse --short HEAD)" "$work/a"
summary "B $(git -C "$b" rev-parse --short HEAD)" "$work/b"
