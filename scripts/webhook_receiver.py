"""An example webhook receiver: verifies each delivery's Standard Webhooks signature, drops
duplicates by webhook-id, and prints the verdict. Standard library plus the verification helper.

    DFS_WEBHOOK_SECRET=$(.venv/bin/deepfake-stream webhooks secret) \\
        .venv/bin/python scripts/webhook_receiver.py --port 9000

then submit jobs with callback_url=http://<this host>:9000/ (a local receiver needs
webhooks.allow_private on the service). Answer 2xx quickly: anything else is retried.
"""

from __future__ import annotations

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import WebhookVerificationError

from deepfake_stream.network import verify

SEEN_LIMIT = 10_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    secret = os.environ["DFS_WEBHOOK_SECRET"]
    seen: dict[str, None] = {}  # webhook-ids already handled (retries repeat the id)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                payload = verify(secret, body, headers)
            except WebhookVerificationError as exc:
                self.send_response(400)  # not from the service, or too old: never retried into
                self.end_headers()
                print(f"rejected: {exc}")
                return
            self.send_response(204)
            self.end_headers()
            if headers["webhook-id"] in seen:
                return
            seen[headers["webhook-id"]] = None
            if len(seen) > SEEN_LIMIT:
                seen.pop(next(iter(seen)))
            job = payload["data"]
            assert isinstance(job, dict)
            result = job.get("result") or {}
            print(
                json.dumps(
                    {
                        "event": payload["type"],
                        "job": job["id"],
                        "verdict": result.get("verdict"),
                        "probability": result.get("probability"),
                        "error": job.get("error"),
                    }
                )
            )

        def log_message(self, *_: object) -> None:
            pass

    print(f"listening on :{args.port}")
    ThreadingHTTPServer(("0.0.0.0", args.port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
