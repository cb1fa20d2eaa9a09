#!/usr/bin/python3
"""webhook_rx.py - a loopback HTTP receiver for backupmxd's alert webhook.

    webhook_rx.py [--fail N] [--path /hook] ADDR PORT OUTFILE

Every POST to PATH is answered 204 and its body (one JSON document) is
appended to OUTFILE as one line, after checking that it parses.  With
--fail N the first N POSTs are answered 500 instead (and not recorded), to
test retries.  Other paths get 404, other methods 405.  Loopback only.
"""
import argparse
import http.server
import ipaddress
import json
import sys

BODY_MAX = 65536  # largest alert body accepted


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fail", type=int, default=0)
    ap.add_argument("--path", default="/hook")
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("out")
    a = ap.parse_args()
    if not ipaddress.ip_address(a.addr).is_loopback:
        sys.exit("webhook_rx: loopback addresses only")
    state = {"fails": a.fail}

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            sys.stderr.write("webhook_rx: " + (fmt % args) + "\n")
            sys.stderr.flush()

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            if self.path != a.path or n > BODY_MAX:
                self.send_error(404)
                return
            body = self.rfile.read(n)
            if state["fails"] > 0:
                state["fails"] -= 1
                self.send_error(500)
                return
            try:
                doc = json.loads(body)
            except ValueError:
                self.send_error(400)
                return
            with open(a.out, "a") as f:
                f.write(json.dumps(doc) + "\n")
            self.send_response(204)
            self.end_headers()

        def do_GET(self):
            self.send_error(405)

    srv = http.server.HTTPServer((a.addr, a.port), H)
    srv.serve_forever()


if __name__ == "__main__":
    main()
