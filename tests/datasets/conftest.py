"""An OpenAI-compatible chat server on 127.0.0.1 with scripted behaviours, for the LLM paths."""

import http.server
import json
import threading
import time

import pytest

GENERIC_ANSWER = (
    "Data pipelines are an important part of modern organizations. They move data from one place to another. "
    "There are many best practices to consider, such as monitoring, testing and documentation. "
    "In conclusion, a good pipeline is reliable, scalable and easy to maintain for every team."
)


class ChatServer:
    """Answers POST /v1/chat/completions with each scripted behaviour in turn (the last repeats)."""

    def __init__(self, *behaviours: str):
        self.behaviours = list(behaviours)
        self.bodies: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.bodies.append({"body": body, "auth": self.headers.get("Authorization")})
                behaviour = server.behaviours.pop(0) if len(server.behaviours) > 1 else server.behaviours[0]
                if behaviour == "slow":
                    time.sleep(1.0)
                status, content = {
                    "ok": (200, json.dumps({"instruction": "Write a post about idempotent reruns."})),
                    "answer": (200, json.dumps({"answer": GENERIC_ANSWER})),
                    "slow": (200, json.dumps({"instruction": "Too late."})),
                    "not-json": (200, "Sure! Here is your instruction: write a post."),
                    "wrong-shape": (200, json.dumps({"prompt": "no instruction field"})),
                    "error": (503, ""),
                }[behaviour]
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
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    servers = []

    def make(*behaviours):
        servers.append(ChatServer(*behaviours))
        return servers[-1]

    yield make
    for server in servers:
        server.close()
