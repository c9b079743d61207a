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

from compositions.providers.base import ComposeRequest


def png(color=(200, 30, 30), size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def compose_request(*, aspect_ratio="1:1", image_size="1K", **fields) -> ComposeRequest:
    """A request with the output size the catalogue gives its ratio and size, as the task sends."""
    # Imported here: the load benchmark uses these fakes without setting Django up, and the
    # catalogue reads models.
    from compositions.catalog import output_size

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


class FakeGeminiBatch:
    """The Gemini API's Batch Mode as providers.md §1b describes it, with state: a batch
    created with inline requests answers `batches/<n>`, then RUNNING and SUCCEEDED on later
    polls (after `polls_to_finish`), with one inlined response per request: an image, a
    refusal for a prompt with "refuse", an error for a prompt with "broken". `nesting` "double"
    (`inlinedResponses.inlinedResponses`, the documented shape) or "flat" (a plain list,
    snake_case), to show the reader accepts either."""

    def __init__(self, *, polls_to_finish: int = 2, nesting: str = "double", image=None):
        self.polls_to_finish, self.nesting = polls_to_finish, nesting
        self.image = image or png((30, 90, 200), (80, 80))
        self.batches: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.end_state = "BATCH_STATE_SUCCEEDED"
        self.busy = 0  # answer the next N polls 429 RESOURCE_EXHAUSTED
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else {}
                fake.requests.append({"method": "POST", "path": self.path, "json": body})
                if self.path.endswith(":batchGenerateContent"):
                    name = f"batches/{len(fake.batches) + 1}"
                    requests = body["batch"]["inputConfig"]["requests"]["requests"]
                    fake.batches[name] = {"requests": requests, "polls": 0, "state": None}
                    return self._answer(200, fake.describe(name))
                if self.path.endswith(":cancel"):
                    name = self.path.removeprefix("/v1beta/").removesuffix(":cancel")
                    fake.batches[name]["state"] = "BATCH_STATE_CANCELLED"
                    return self._answer(200, {})
                return self._answer(404, google_error(404, "NOT_FOUND", "no such method"))

            def do_GET(self):
                fake.requests.append({"method": "GET", "path": self.path, "json": None})
                name = self.path.removeprefix("/v1beta/")
                if fake.busy:
                    fake.busy -= 1
                    return self._answer(429, google_error(429, "RESOURCE_EXHAUSTED", "busy"))
                if name not in fake.batches:
                    return self._answer(404, google_error(404, "NOT_FOUND", "no such batch"))
                fake.batches[name]["polls"] += 1
                return self._answer(200, fake.describe(name))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def state(self, name: str) -> str:
        batch = self.batches[name]
        if batch["state"]:
            return batch["state"]
        if batch["polls"] == 0:
            return "BATCH_STATE_PENDING"
        if batch["polls"] < self.polls_to_finish:
            return "BATCH_STATE_RUNNING"
        return self.end_state

    def answer_for(self, item: dict) -> dict:
        prompt = item["request"]["contents"][0]["parts"][0]["text"]
        if "broken" in prompt:
            return {
                "error": {"code": 13, "message": "Internal error"},
                "metadata": item["metadata"],
            }
        if "refuse" in prompt:
            response: dict = {"promptFeedback": {"blockReason": "SAFETY"}}
        else:
            response = gemini_ok(self.image)
        return {"response": response, "metadata": item["metadata"]}

    def describe(self, name: str) -> dict:
        state = self.state(name)
        batch = self.batches[name]
        body: dict = {
            "name": name,
            "metadata": {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",  # noqa: E501
                "name": name,
                "state": state,
                "batchStats": {"requestCount": str(len(batch["requests"]))},
            },
        }
        if state == "BATCH_STATE_SUCCEEDED":
            answers = [self.answer_for(item) for item in batch["requests"]]
            body["done"] = True
            if self.nesting == "double":
                body["response"] = {"inlinedResponses": {"inlinedResponses": answers}}
            else:
                body["response"] = {"inlined_responses": answers}
        return body

    def close(self):
        self.server.shutdown()
        self.server.server_close()
