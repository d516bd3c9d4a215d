#!/usr/bin/env python3
"""Tiny HTTP server for the test hosts: answers every GET with one line naming the
tenant, so a client proves which tenant's host it reached.

usage: payload_server.py PORT PAYLOAD      (listens on [::]:PORT, IPv4 and IPv6)
"""
import http.server
import socket
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self):  # noqa: N802 (http.server naming)
        body = self.payload
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.client_address[0], fmt % args))
        sys.stderr.flush()


class DualStackServer(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    Handler.payload = (sys.argv[2] + "\n").encode()
    with DualStackServer(("::", int(sys.argv[1])), Handler) as srv:
        srv.serve_forever()


if __name__ == "__main__":
    main()
