"""OpenAI-compatible client: requests/s with ``max_concurrency`` N vs 1, against the test server.

    python benchmarks/bench_openai_api.py [--n 64] [--latency 0.2] [--concurrency 8]

The server (tests/chat_server.py, a real process on 127.0.0.1) answers each request after
``--latency`` seconds, like a model server under load; each request carries the demo's image as
a data URL. The ratio shows what bounded concurrency buys; the absolute numbers are the
harness's own overhead plus the simulated latency.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="requests per measurement (default 64)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server takes per answer")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    from PIL import Image

    from reag_harness.interfaces import Runtime
    from reag_harness.plugins.generators.openai_chat import OpenAIGenerator
    from reag_harness.records import ChatRequest
    from tests.chat_server import ServerProcess

    image = Path(os.environ.get("TMPDIR", "/tmp")) / "bench_openai_api.png"
    Image.new("RGB", (640, 480), (30, 120, 200)).save(image)
    server = ServerProcess()
    try:
        server.configure(delay_s=args.latency)
        rates = {}
        for concurrency in (1, args.concurrency):
            gen = OpenAIGenerator(Runtime(), base_url=server.url, model="bench", api_key_env="none",
                                  max_concurrency=concurrency)
            requests = [ChatRequest(messages=[{"role": "user", "content": [
                {"type": "image", "image": str(image)}, {"type": "text", "text": f"c{concurrency} q{i}"}]}])
                for i in range(args.n)]
            t0 = time.perf_counter()
            gen.generate(requests)
            wall = time.perf_counter() - t0
            rates[concurrency] = args.n / wall
            print(f"max_concurrency={concurrency:<3} {args.n} requests in {wall:6.2f} s  "
                  f"({rates[concurrency]:.1f} req/s)")
        print(f"speed-up {args.concurrency} vs 1: {rates[args.concurrency] / rates[1]:.1f}x "
              f"(ideal {args.concurrency}x at {args.latency:g} s latency)")
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
