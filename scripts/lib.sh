# Shared by scripts/dev, scripts/test and scripts/bench: starting and stopping the worker.
# Source it; it defines functions only.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wrangler="$root/scripts/node_modules/.bin/wrangler"

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# start_worker PORT STATE_DIR LOG [wrangler dev flags...]: starts `wrangler dev` on loopback
# in a process group of its own (so node and its workerd children stop together) and sets
# WORKER_PID, the group's id.
start_worker() {
  local port=$1 state=$2 log=$3
  shift 3
  mkdir -p "$state"
  # setsid is not a group leader here, so it makes the new group without forking: $! is its id.
  WRANGLER_SEND_METRICS=false setsid "$wrangler" dev --cwd "$root" \
    --ip 127.0.0.1 --port "$port" --inspector-port "$(free_port)" \
    --persist-to "$state" --show-interactive-dev-session=false "$@" >"$log" 2>&1 </dev/null &
  WORKER_PID=$!
}

# wait_ready URL SECONDS: waits until GET URL/v2/ answers (200, or 401 asking for a login), or fails.
wait_ready() {
  local url=$1 seconds=$2 deadline=$((SECONDS + $2)) status
  while [ "$SECONDS" -lt "$deadline" ]; do
    # -k: with --local-protocol https, wrangler serves a self-signed certificate (loopback only).
    status=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 2 "$url/v2/" 2>/dev/null || true)
    case "$status" in 200|401) return 0 ;; esac
    if ! kill -0 "$WORKER_PID" 2>/dev/null; then
      return 1
    fi
    sleep 0.5
  done
  return 1
}

# stop_worker PID: stops the whole process group, politely first.
stop_worker() {
  local pid=$1
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for _ in $(seq 1 20); do
    kill -0 -- "-$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
}
