"""Shared set-up for the templates' tests: a workspace with credits on a plan with room, small
photos, and a template made through the service."""

import io

from billing.models import Plan
from billing.services import grant_credits, open_wallet
from blueprints.services import create_template
from compositions.options import NewImage
from compositions.services import create_upload
from conftest import image_bytes


def fund(user, credits=200, plan="pro"):
    wallet = open_wallet(workspace=user.current_workspace)
    wallet.plan = Plan.objects.get(code=plan)
    wallet.save(update_fields=["plan"])
    grant_credits(wallet=wallet, amount=credits, reason="test")
    wallet.refresh_from_db()
    return wallet


def small_upload(user, color=(200, 40, 40)):
    data = image_bytes(size=(32, 24), color=color)
    return create_upload(
        workspace=user.current_workspace,
        user=user,
        image=NewImage(name="p.png", fileobj=io.BytesIO(data), size=len(data)),
    )


def make_template(user, *, fixed=None, optional_second=False, name="Product shots"):
    """Two slots: image 1 asked each time (the product), image 2 fixed or asked."""
    return create_template(
        workspace=user.current_workspace,
        user=user,
        name=name,
        definition={
            "prompt": "Put {product} from image 1 in the scene of image 2, titled {title}",
            "fields": [
                {"name": "product", "label": "Product name"},
                {"name": "title", "required": False},
            ],
            "slots": [
                {"role": "subject", "label": "Product"},
                {
                    "role": "background",
                    "label": "Scene",
                    "fixed": {"upload": fixed.public_id} if fixed else None,
                    "required": not optional_second,
                },
            ],
            "options": {"model": "local", "image_size": "512"},
        },
    )
