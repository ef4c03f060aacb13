"""A small file server for the ``data get`` tests, run as its own process on 127.0.0.1.

``python tests/data_server.py ROOT LOG [--drop NAME:BYTES]`` serves ROOT's files with ``Range``
support (206 Partial Content), appends one JSON line per request to LOG (method, path, Range) and
prints its port. It also answers as a minimal Hugging Face hub (``HF_ENDPOINT``) for any repo id whose
files are ROOT's files: ``/api/models/REPO/revision/REV``, ``.../tree/SHA`` and ``/REPO/resolve/SHA/NAME``.
``--drop NAME:BYTES`` closes the connection after BYTES bytes of the first GET of
NAME, having announced the full Content-Length (a connection dropped half way).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HUB_SHA = "0123456789abcdef0123456789abcdef01234567"


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

    def _json(self, data: object, body: bool) -> None:
        blob = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        if body:
            self.wfile.write(blob)

    def _hub_api(self, path: str, body: bool) -> None:
        files = sorted(f for f in os.listdir(self.root) if os.path.isfile(os.path.join(self.root, f)))
        if "/tree/" in path:
            self._json([{"type": "file", "path": f, "size": os.path.getsize(os.path.join(self.root, f)),
                         "oid": hashlib.sha1(open(os.path.join(self.root, f), "rb").read()).hexdigest()}
                        for f in files], body)
        elif "/revision/" in path:
            repo = path[len("/api/models/"):].split("/revision/")[0]
            self._json({"id": repo, "sha": HUB_SHA, "siblings": [{"rfilename": f} for f in files]}, body)
        else:
            self.send_error(404)

    def _serve(self, body: bool) -> None:
        self._record()
        path = self.path.split("?")[0]
        if path.startswith("/api/"):
            self._hub_api(path, body)
            return
        hub = "/resolve/" in path
        name = path.rsplit("/", 1)[-1] if hub else path.lstrip("/")
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
        if hub:
            self.send_header("X-Repo-Commit", HUB_SHA)
            self.send_header("ETag", '"' + hashlib.sha1(data).hexdigest() + '"')
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
