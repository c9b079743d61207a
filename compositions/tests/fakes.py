"""A scriptable HTTP server on 127.0.0.1 that plays a provider's side of the wire, each
provider's answers, and the requests the providers are given."""

import base64
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

from compositions.catalog import output_size
from compositions.providers.base import ComposeRequest


def png(color=(200, 30, 30), size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def compose_request(*, aspect_ratio="1:1", image_size="1K", **fields) -> ComposeRequest:
    """A request with the output size the catalogue gives its ratio and size, as the task sends."""
    width, height = output_size(aspect_ratio, image_size)
    return ComposeRequest(
        aspect_ratio=aspect_ratio, image_size=image_size, width=width, height=height, **fields
    )


@dataclass
class Reply:
    status: int = 200
    body: object = None  # dict/list → JSON; bytes → raw
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


class FakeProvider:
    """Answers each request with the next scripted Reply (the last one repeats)."""

    def __init__(self, port: int = 0):
        self.replies: list[Reply] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake.lock:
                    fake.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "json": json.loads(raw) if raw else None,
                        }
                    )
                    reply = fake.replies.pop(0) if len(fake.replies) > 1 else fake.replies[0]
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def script(self, *replies: Reply):
        self.replies = list(replies)
        self.requests = []

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- Each provider's answers, as providers.md documents them ---------------------------------


def gemini_ok(*images: bytes, text: str = "", thought: bytes | None = None) -> dict:
    parts = []
    if thought:
        parts.append(
            {"inlineData": {"mimeType": "image/png", "data": b64(thought)}, "thought": True}
        )
    if text:
        parts.append({"text": text, "thoughtSignature": "sig"})
    parts += [
        {"inlineData": {"mimeType": "image/png", "data": b64(i)}, "thoughtSignature": "sig"}
        for i in images
    ]
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
        "usageMetadata": {
            "promptTokenCount": 1119,
            "candidatesTokenCount": 1120,
            "totalTokenCount": 2479,
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
        },
        "modelVersion": "gemini-3.1-flash-image",
        "responseId": "resp-1",
    }


def google_error(code: int, status: str, message: str, details=()) -> dict:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


def openrouter_ok(*images: bytes, text: str = "Here you go.") -> dict:
    return {
        "id": "gen-1",
        "object": "chat.completion",
        "model": "google/gemini-3.1-flash-image",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "native_finish_reason": "STOP",
                "message": {
                    "role": "assistant",
                    "content": text,
                    "images": [
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{b64(i)}"},
                        }
                        for i in images
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 1300,
            "completion_tokens": 1290,
            "total_tokens": 2590,
            "cost": 0.0393,
        },
    }


def runware_ok(*images: bytes) -> dict:
    return {
        "data": [
            {
                "taskType": "imageInference",
                "taskUUID": "t-1",
                "imageUUID": f"img-{n}",
                "imageBase64Data": b64(i),
                "cost": 0.0672,
            }
            for n, i in enumerate(images)
        ]
    }


def aiml_ok(*images: bytes, shape: str = "data") -> dict:
    if shape == "images":
        return {
            "images": [
                {"url": f"data:image/png;base64,{b64(i)}", "content_type": "image/png"}
                for i in images
            ],
            "description": "Here is your picture",
        }
    return {
        "data": [{"url": None, "b64_json": b64(i)} for i in images],
        "meta": {"usage": {"credits_used": 120000, "usd_spent": 0.06}},
        "model": "google/nano-banana-2",
    }
