#!/usr/bin/env python3
"""Client-side latency of sequential pinned chat completions against a running gateway.

Used for the judge's overhead figure in docs/gateway.md ("Judge"): run two `switchyard serve`
instances against one `testkit --port 0` fake, one with `[judge] sample_rate = 1.0` and one
without, and alternate runs of this script between their ports; compare the minimum p50 of
the repeats. Standard library only; one keep-alive connection.

    python3 scripts/judge_overhead.py PORT [REQUESTS]
"""

import http.client
import json
import sys
import time


def main() -> None:
    port = int(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    conn = http.client.HTTPConnection("127.0.0.1", port)
    body = json.dumps(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Say hello to the judge benchmark please"}],
        }
    )
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            sys.exit(f"HTTP {resp.status}")
        lat.append(time.perf_counter() - t)
    lat.sort()
    print(
        f"p50_ms={lat[n // 2] * 1000:.3f} p99_ms={lat[int(n * 0.99)] * 1000:.3f} "
        f"total_s={sum(lat):.3f}"
    )


if __name__ == "__main__":
    main()
