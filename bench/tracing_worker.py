"""One side of `hotelctl bench tracing`: the API in this process, quotes on request, CPU time per block.

Tracing is on when an OTEL_* endpoint is in the environment (the API's own setup decides, as in production).
Reads `<offset> <count>` lines on stdin; answers each with one JSON line: the CPU seconds (all threads) of
that many quotes from the mix, starting at `offset` (cycling), with the spans still queued flushed."""

from __future__ import annotations

import json
import sys
import time


def main(requests_file: str) -> None:
    answers, sys.stdout = sys.stdout, sys.stderr  # the API's own output must not mix with the answers
    from fastapi.testclient import TestClient

    from api.app import create_app
    from core import tracing

    loaded = json.loads(open(requests_file).read())
    searches = loaded["searches"]
    with TestClient(create_app()) as client:
        tokens = []
        for client_id, secret in loaded["partners"]:
            response = client.post("/v1/auth/token", json={"client_id": client_id, "client_secret": secret})
            response.raise_for_status()
            tokens.append({"Authorization": f"Bearer {response.json()['access_token']}"})
        for line in sys.stdin:
            offset, count = (int(word) for word in line.split())
            errors = 0
            started = time.process_time()
            for index in range(offset, offset + count):
                partner, body = searches[index % len(searches)]
                errors += client.post("/v1/quotes", headers=tokens[partner], json=body).status_code != 200
            tracing.flush()
            cpu = time.process_time() - started
            print(json.dumps({"cpu_s": cpu, "quotes": count, "errors": errors, "traced": tracing.active()}),
                  file=answers, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
