"""OpenAPI: how our authentication classes and our error answers are described."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse

from .serializers import ProblemOut

PROBLEM = "application/problem+json"


def problem_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ProblemOut, description=description)


ERRORS = {
    (400, PROBLEM): problem_response("Invalid request"),
    (401, PROBLEM): problem_response("Missing, bad, revoked or expired token"),
    (403, PROBLEM): problem_response("Role, scope or plan forbids it"),
    (404, PROBLEM): problem_response("Absent, or not this workspace's"),
    (429, PROBLEM): problem_response("Rate limited or over quota (see Retry-After)"),
}
WRITE_ERRORS = {
    **ERRORS,
    (402, PROBLEM): problem_response("Not enough credits"),
    (409, PROBLEM): problem_response("Idempotency key in flight, or invalid state"),
    (413, PROBLEM): problem_response("Too large"),
    (415, PROBLEM): problem_response("Unsupported image type"),
    (422, PROBLEM): problem_response("Idempotency key reused with another body"),
}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A workspace API token (bns_...), created in workspace settings.",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.WorkspaceSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
