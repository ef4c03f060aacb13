"""A small file server for the ``data get`` tests, run as its own process on 127.0.0.1.

``python tests/data_server.py ROOT LOG [--drop NAME:BYTES]`` serves ROOT's files with ``Range``
support (206 Partial Content), appends one JSON line per request to LOG (method, path, Range) and
prints its port. ``--drop NAME:BYTES`` closes the connection after BYTES bytes of the first GET of
NAME, having announced the full Content-Length (a connection dropped half way).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    root = "."
    log_path = ""
    drops: dict[str, int] = {}
    guard = threading.Lock()

    def log_message(self, fmt: str, *args) -> None:  # quiet
        pass

    def _record(self) -> None:
        with self.guard, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "range": self.headers.get("Range")}) + "\n")

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        self._record()
        name = self.path.lstrip("/").split("?")[0]
        path = os.path.join(self.root, name)
        if "/" in name or not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        start, status = 0, 200
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if m:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not body:
            return
        with self.guard:
            cut = self.drops.pop(name, None) if not m else None
        if cut is not None:
            self.wfile.write(data[start:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(data[start:])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("log")
    ap.add_argument("--drop", action="append", default=[], help="NAME:BYTES")
    args = ap.parse_args()
    Handler.root, Handler.log_path = args.root, args.log
    Handler.drops = {d.rsplit(":", 1)[0]: int(d.rsplit(":", 1)[1]) for d in args.drop}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
