"""Benchmark: the cost of checking image content in the stage cache (reag_harness/core/digests.py).

Writes N image-sized files (150 KB of random bytes each), then times, in fresh processes:

* cold: every file read and hashed (the first run over a dataset);
* warm: a new process with the on-disk memo (a re-run of a cached configuration): one ``stat`` each;
* the same files' ``stat`` alone, as the floor.

    python benchmarks/bench_digests.py              # 3000 files
    python benchmarks/bench_digests.py --files 20000 --dir /data/tmp
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import os, sys, time
from pathlib import Path
from reag_harness.core.digests import digests
files = sorted(str(p) for p in Path(sys.argv[1]).glob("*.bin"))
t0 = time.perf_counter()
if sys.argv[2] == "stat":
    [os.stat(f) for f in files]
else:
    digests(files)
print(time.perf_counter() - t0)
"""


def timed(folder: Path, mode: str, env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode], capture_output=True, text=True, env=env,
                         check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--size-kb", type=int, default=150)
    parser.add_argument("--dir", default=None, help="where to write the files (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for i in range(args.files):
            (folder / f"{i:06d}.bin").write_bytes(os.urandom(args.size_kb * 1024))
        env = {**os.environ, "REAG_HARNESS_CACHE": str(Path(tmp) / "cache")}
        cold = timed(folder, "digest", env)
        warm = timed(folder, "digest", env)
        floor = timed(folder, "stat", env)
    mb = args.files * args.size_kb / 1024
    print(f"{args.files} files, {mb:,.0f} MB (page cache warm: the files were just written)")
    print(f"  cold (read + sha256):        {cold:8.3f} s  ({mb / cold:,.0f} MB/s)")
    print(f"  warm (memo on disk, stat):   {warm:8.3f} s  -> {cold / warm:,.1f}x faster than cold")
    print(f"  stat only (floor):           {floor:8.3f} s")


if __name__ == "__main__":
    main()
