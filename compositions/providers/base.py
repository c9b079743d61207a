"""The one interface every image provider implements, and the errors they raise."""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class InputImage:
    data: bytes
    mime_type: str
    role: str = "other"
    # A region edit's or expand's image 1 carries the area to fill as an L PNG of its size
    # (white: fill). The models ignore masks, so only the local compositor reads it; bananasite
    # pastes every provider's answer back through the mask itself (`compositions.regions`).
    mask: bytes = b""
    # A marked-up copy of the image at this position (1-based): arrows, boxes and notes drawn
    # in the composer. The prompt says so; providers that cannot read marks leave it out.
    markup_of: int | None = None


# Keyword-only, so the required output size can sit beside the options it follows from.
@dataclass(kw_only=True)
class ComposeRequest:
    """Everything a provider needs to know about one composition."""

    prompt: str
    images: list[InputImage]
    model: str  # the provider's own model name
    aspect_ratio: str = "1:1"
    image_size: str = "1K"
    # The output size in pixels for aspect_ratio at image_size, worked out by the caller
    # (catalog.output_size), so providers need not know the catalogue.
    width: int
    height: int
    num_images: int = 1
    preset: str = "none"
    style: str = "natural"
    seed: int = 0
    # Model options (catalogue `options`), already checked against the model and the route:
    # Google Search grounding, and a thinking level ("" leaves the model's default).
    grounding: bool = False
    thinking_level: str = ""
    # "edit" (image 1 is a crop around a region to change) or "expand" (image 1 is a bigger
    # canvas whose new area is to be filled); "" for an ordinary composition.
    region: str = ""
    # A time.monotonic() instant by which the whole exchange (every call, retry and backoff
    # sleep) must end; None: only the client's own budget applies.
    deadline: float | None = None


@dataclass
class OutputImage:
    data: bytes
    mime_type: str


@dataclass
class ComposeResult:
    images: list[OutputImage]
    text: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None
    request_id: str = ""


ProgressCallback = Callable[[float], None]


class ProviderError(Exception):
    """A provider could not deliver. `message` is shown to people; never a key or raw body."""

    code = "provider_error"
    retryable = False
    default_message = "The image service could not complete this composition."

    def __init__(self, message: str | None = None, *, detail: str = ""):
        self.message = message or self.default_message
        self.detail = detail  # for logs only; already free of secrets
        super().__init__(self.message)


class ProviderAuthError(ProviderError):
    default_message = "The image service rejected this site's credentials."


class ProviderRateLimited(ProviderError):
    retryable = True
    default_message = "The image service is busy right now."

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, detail: str = ""
    ):
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class ProviderSafetyBlock(ProviderError):
    code = "provider_safety_block"
    default_message = "The image service declined this request under its safety rules."


class ProviderNoImage(ProviderError):
    code = "provider_no_image"
    default_message = "The image service answered without an image."


class ProviderBadRequest(ProviderError):
    default_message = "The image service could not accept these inputs."


class ProviderTimeout(ProviderError):
    code = "provider_timeout"
    retryable = True
    default_message = "The image service took too long to answer."


class ProviderUnavailable(ProviderError):
    retryable = True
    default_message = "The image service is unavailable right now."


# The model options a request may carry (`ComposeRequest.grounding`, `.thinking_level`).
GROUNDING, THINKING_LEVEL = "grounding", "thinking_level"


class Provider(ABC):
    name: str
    # The model options this provider's wire format can carry; a route through a provider that
    # cannot carry a requested option is not a candidate (catalog.available_routes).
    model_options: frozenset[str] = frozenset()

    @abstractmethod
    def compose(
        self, request: ComposeRequest, progress: ProgressCallback | None = None
    ) -> ComposeResult:
        """Run one composition request and return every image it produced."""


@dataclass
class BatchPoll:
    """A batch job as the provider last described it: `state` is one of running, succeeded,
    failed, canceled or expired; `result` is set once it succeeded with at least one image."""

    state: str
    result: ComposeResult | None = None
    detail: str = ""


class BatchProvider(Provider):
    """A provider with a batch tier: submit now, collect within a day at a lower price."""

    batch_tier = True

    @abstractmethod
    def submit_batch(self, request: ComposeRequest, *, key: str) -> str:
        """Submit one composition's request(s) as a batch job; return the job's name."""

    @abstractmethod
    def poll_batch(self, name: str, *, model: str) -> BatchPoll:
        """The job's state, and its images once done. A refusal or a failure of every request
        raises its ProviderError; a call that gets no answer raises ProviderUnavailable or
        ProviderTimeout (the next poll tries again)."""

    @abstractmethod
    def cancel_batch(self, name: str) -> None:
        """Ask the provider to stop the job (best effort)."""
