# Shared by bench/gateway_proxy.sh and bench/gateway_proxy_cost.sh (sourced after
# bench/lib/common.sh, use_tenx and make_workdir): two nginx upstreams and the three proxies in
# front of them, with the rivals' settings those scripts describe. Ports 18491-18495 on
# 127.0.0.1; every process started is tracked in PIDS.
#   start_upstream 1|2   sets U1_PID / U2_PID
#   start_proxy nginx|haproxy|tenx W   (W workers / threads); proxy_pid NAME, proxy_port NAME
#   worker_pids NAME     the processes doing the proxying (nginx's workers, not its master)
#   tenx_args PORT W     sets TENX_ARGS: `tenx gateway` in front of both upstreams on PORT
need /usr/sbin/nginx nginx
need /usr/sbin/haproxy haproxy
need curl curl
trap 'exit 130' INT TERM
BODY=$(sed -n "s/^body = '\(.*\)'$/\1/p" bench/configs/fixed_response.toml)
U1_PORT=18491; U2_PORT=18492; NGINX_PORT=18493; HAPROXY_PORT=18494; TENX_PORT=18495
for p in $U1_PORT $U2_PORT $NGINX_PORT $HAPROXY_PORT $TENX_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "bench: something already listens on 127.0.0.1:$p (a previous run?); stopping" >&2; exit 1
  fi
done

start_upstream() {  # 1|2 -> U1_PID/U2_PID
  local n=$1 port; if [ "$n" = 1 ]; then port=$U1_PORT; else port=$U2_PORT; fi
  { nginx_conf "upstream$n" 1 single; cat <<NGX
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$port;
    location = /hello { default_type application/json; return 200 '$BODY'; }
  }
}
NGX
  } > "$WORK/upstream$n.conf"
  /usr/sbin/nginx -c "$WORK/upstream$n.conf" 2>>"$WORK/upstream$n-error.log" & local pid=$!; PIDS+=("$pid")
  if [ "$n" = 1 ]; then U1_PID=$pid; else U2_PID=$pid; fi  # both are in PIDS
  wait_http "$port" "$pid" "upstream $n" "$WORK/upstream$n-error.log"
}
start_nginx() {  # workers
  { nginx_conf "nginx" "$1"; cat <<NGX
  keepalive_requests 100000;
  upstream pool {
    server 127.0.0.1:$U1_PORT max_fails=1 fail_timeout=10s;
    server 127.0.0.1:$U2_PORT max_fails=1 fail_timeout=10s;
    keepalive 64;
    keepalive_requests 100000;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport;
    location / {
      proxy_pass http://pool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout http_502 http_503;
    }
  }
}
NGX
  } > "$WORK/nginx.conf"
  /usr/sbin/nginx -c "$WORK/nginx.conf" 2>>"$WORK/nginx-error.log" & NGINX_PID=$!; PIDS+=("$NGINX_PID")
  wait_http $NGINX_PORT "$NGINX_PID" nginx "$WORK/nginx-error.log"
}
start_haproxy() {  # workers
  cat > "$WORK/haproxy.cfg" <<HAP
global
  nbthread $1
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  retries 3
  option redispatch
  retry-on all-retryable-errors
frontend fe
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend pool
backend pool
  balance roundrobin
  server u1 127.0.0.1:$U1_PORT check inter 1s
  server u2 127.0.0.1:$U2_PORT check inter 1s
HAP
  /usr/sbin/haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.out" 2>&1 & HAPROXY_PID=$!; PIDS+=("$HAPROXY_PID")
  wait_http $HAPROXY_PORT "$HAPROXY_PID" haproxy "$WORK/haproxy.out"
}
tenx_args() {  # port workers -> TENX_ARGS
  TENX_ARGS=(gateway --listen "127.0.0.1:$1" --threads "$2" --upstream "http://127.0.0.1:$U1_PORT"
    --upstream "http://127.0.0.1:$U2_PORT" --balance round_robin --access-log off --log-level warn)
}
start_tenx() {  # workers
  tenx_args $TENX_PORT "$1"
  "$TENX" "${TENX_ARGS[@]}" >"$WORK/tenx.out" 2>"$WORK/tenx.err" & TENX_PID=$!; PIDS+=("$TENX_PID")
  wait_http $TENX_PORT "$TENX_PID" tenx "$WORK/tenx.err"
  grep -qs "tenx gateway listening on http://127.0.0.1:$TENX_PORT" "$WORK/tenx.out" "$WORK/tenx.err" ||
    echo "bench: note: tenx answers but did not print 'tenx gateway listening on http://127.0.0.1:$TENX_PORT'" >&2
}
start_proxy() {  # name workers
  case "$1" in nginx) start_nginx "$2";; haproxy) start_haproxy "$2";; tenx) start_tenx "$2";; esac
}
proxy_pid() { case "$1" in nginx) echo "$NGINX_PID";; haproxy) echo "$HAPROXY_PID";; tenx) echo "$TENX_PID";; esac; }
proxy_port() { case "$1" in nginx) echo $NGINX_PORT;; haproxy) echo $HAPROXY_PORT;; tenx) echo $TENX_PORT;; esac; }
wait_http() {  # port pid name log: until GET /hello answers 200; fails if the process exits
  for _ in $(seq 200); do
    curl -fs -o /dev/null "http://127.0.0.1:$1/hello" && return 0
    if ! kill -0 "$2" 2>/dev/null; then
      echo "bench: $3 exited before answering on port $1; its log:" >&2; tail -n 20 "$4" >&2 || true; exit 1
    fi
    sleep 0.05
  done
  echo "bench: $3 did not answer on port $1 within 10 s; its log:" >&2; tail -n 20 "$4" >&2 || true; exit 1
}

worker_pids() {  # name -> the PIDs that proxy (nginx's workers are its master's children)
  local pid; pid=$(proxy_pid "$1")
  if [ "$1" = nginx ]; then pgrep -P "$pid" | tr '\n' ' '; else echo "$pid"; fi
}
