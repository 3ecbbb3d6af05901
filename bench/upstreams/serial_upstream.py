#!/usr/bin/env python3
"""bench/upstreams/serial_upstream.py — an upstream that handles one request at a time.

Used by bench/gateway_slow_requests.sh to stand for "server 2 is handling a 30-second report
export": while it serves GET /slow (answered after --slow-ms, 300 ms by default) it answers
nothing else, so a balancer that keeps sending it requests makes them wait.

  GET /fast  -> 200, small JSON, at once
  GET /slow  -> 200, small JSON, after --slow-ms
  other      -> 404

HTTP/1.1 with keep-alive and Content-Length, parsed and answered by http.server's
BaseHTTPRequestHandler. It is single-threaded, but not http.server.HTTPServer's loop: that one
serves a keep-alive connection until the client closes it, so an idle pooled connection from a
proxy would starve every other connection. Here a selector waits on all connections and each
readable connection gets exactly one request handled before going back to the selector.
(Pipelined requests are not supported: proxies send one request at a time per connection.)

Usage: serial_upstream.py --port PORT [--slow-ms 300]
Prints "serial upstream listening on http://127.0.0.1:PORT" when ready; stops on SIGTERM.
"""
import argparse
import selectors
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler

SLOW_SECONDS = 0.3


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no Nagle delay
    server_version = "serial-upstream"
    sys_version = ""

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/fast":
            status, body = 200, b'{"path":"/fast","ok":true}'
        elif path == "/slow":
            time.sleep(SLOW_SECONDS)
            status, body = 200, b'{"path":"/slow","ok":true}'
        else:
            status, body = 404, b'{"error":"not found"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):
        pass


def open_connection(sock, addr):
    # A handler per connection, without BaseRequestHandler.__init__ (which would run the whole
    # connection to its end): setup() makes rfile/wfile, then one request per readiness event.
    h = Handler.__new__(Handler)
    h.request, h.client_address, h.server = sock, addr, None
    h.setup()
    h.close_connection = False
    return h


def main():
    global SLOW_SECONDS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--slow-ms", type=int, default=300)
    args = ap.parse_args()
    SLOW_SECONDS = args.slow_ms / 1000.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    listener = socket.create_server(("127.0.0.1", args.port), backlog=1024)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    print(f"serial upstream listening on http://127.0.0.1:{args.port}", flush=True)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                sock, addr = listener.accept()
                sel.register(sock, selectors.EVENT_READ, open_connection(sock, addr))
                continue
            h = key.data
            try:
                h.handle_one_request()
            except OSError:  # reset by the peer, broken pipe
                h.close_connection = True
            if h.close_connection:
                sel.unregister(h.connection)
                try:
                    h.finish()
                except OSError:
                    pass
                h.connection.close()


if __name__ == "__main__":
    main()
