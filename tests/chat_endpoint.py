"""An OpenAI-compatible chat endpoint on 127.0.0.1 whose answers a test scripts."""

import http.server
import json
import threading
from collections.abc import Callable

# (request body, Authorization header) -> (HTTP status, the assistant message's content)
Respond = Callable[[dict, str | None], tuple[int, str]]


class ChatEndpoint:
    """Answers POST /v1/chat/completions with respond(body, authorization); keeps every request."""

    def __init__(self, respond: Respond):
        self.requests: list[tuple[dict, str | None]] = []
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                authorization = self.headers.get("Authorization")
                endpoint.requests.append((body, authorization))
                status, content = respond(body, authorization)
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
