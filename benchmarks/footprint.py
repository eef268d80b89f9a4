"""Import time and resident memory: `import stratum` and one typed call vs the raw floor.

Each measurement runs in a fresh interpreter (so nothing is imported twice), best of `--runs`:

- import time: `import stratum` vs `import httpx2, pydantic` (wall time inside the process,
  interpreter start-up excluded);
- resident set (VmHWM, the peak RSS) after importing and making ONE structured call against the
  loopback fake server: `@infer` through `OpenAI(base_url=...)` vs a raw `httpx2` POST plus
  `model_validate_json` on a pydantic model.

Usage:
    PYTHONPATH=src python benchmarks/footprint.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

IMPORT_RAW = "import time; t = time.perf_counter(); import httpx2, pydantic; print(time.perf_counter() - t)"
IMPORT_STRATUM = "import time; t = time.perf_counter(); import stratum; print(time.perf_counter() - t)"

PEAK = """
def peak_kb():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1])
"""

CALL_RAW = PEAK + """
import asyncio, sys
import httpx2, pydantic

class City(pydantic.BaseModel):
    city: str
    country: str
    population: int

async def main():
    async with httpx2.AsyncClient(base_url=sys.argv[1]) as client:
        r = await client.post("/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "Paris?"}]},
                              headers={"authorization": "Bearer k"})
        City.model_validate_json(r.json()["choices"][0]["message"]["content"])

asyncio.run(main())
print(peak_kb())
"""

CALL_STRATUM = PEAK + """
import sys
import stratum
from stratum import Budget, contract, infer
from stratum.providers import OpenAI

@contract
class City:
    city: str
    country: str
    population: int

@infer("Name the city", budget=Budget(usd="1"))
def city(question: str) -> City: ...

# The built-in "openai" name with the fake's URL: the price comes from the bundled catalog and
# the input is estimated as for a real user (under this roomy budget, the UTF-8 byte bound: the
# model's tokenizer is loaded only when a bound does not fit what a budget has left).
stratum.configure(providers={"openai": OpenAI(base_url=sys.argv[1], api_key="k")}, default_model="openai:gpt-4.1-mini")
stratum.run(city(question="Paris?"))
print(peak_kb())
"""


def _run(code: str, *args: str) -> float:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "fake_openai_server.py"), "--port", "0", "--latency-ms", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip())
        url = f"http://127.0.0.1:{port}/v1"
        imp_raw = min(_run(IMPORT_RAW) for _ in range(args.runs))
        imp_ours = min(_run(IMPORT_STRATUM) for _ in range(args.runs))
        rss_raw = min(_run(CALL_RAW, url) for _ in range(args.runs))
        rss_ours = min(_run(CALL_STRATUM, url) for _ in range(args.runs))
    finally:
        proc.terminate()
        proc.wait()
    rows = {
        "import_raw_ms": imp_raw * 1000,
        "import_stratum_ms": imp_ours * 1000,
        "import_ratio": imp_ours / imp_raw,
        "rss_raw_mb": rss_raw / 1024,
        "rss_stratum_mb": rss_ours / 1024,
        "rss_ratio": rss_ours / rss_raw,
    }
    print(json.dumps(rows, indent=1))
    print(f"import: httpx2+pydantic {imp_raw * 1000:.0f} ms, stratum {imp_ours * 1000:.0f} ms, ratio {imp_ours / imp_raw:.2f}")
    print(f"peak RSS after one call: raw {rss_raw / 1024:.1f} MB, stratum {rss_ours / 1024:.1f} MB, ratio {rss_ours / rss_raw:.2f}")


if __name__ == "__main__":
    main()
