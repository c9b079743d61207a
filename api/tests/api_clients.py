from rest_framework.test import APIClient

from accounts.services import create_api_token


def token_client(user, **kwargs):
    raw = create_api_token(workspace=user.current_workspace, user=user, name="t", **kwargs)[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client
