from django.db import migrations
from django.db.models import F

PLANS = [
    {
        "code": "free",
        "name": "Free",
        "is_default": True,
        "signup_grant": 50,
        "monthly_grant": 25,
        "daily_images_per_member": 30,
        "monthly_images_per_workspace": 300,
        "max_image_size": "2K",
        "concurrent_compositions": 2,
    },
    {
        "code": "pro",
        "name": "Pro",
        "signup_grant": 0,
        "monthly_grant": 500,
        "daily_images_per_member": 500,
        "monthly_images_per_workspace": 5000,
        "max_image_size": "4K",
        "concurrent_compositions": 6,
    },
    {
        "code": "team",
        "name": "Team",
        "signup_grant": 0,
        "monthly_grant": 2000,
        "daily_images_per_member": 1000,
        "monthly_images_per_workspace": 20000,
        "max_image_size": "4K",
        "concurrent_compositions": 10,
    },
]


def create_plans_and_wallets(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Wallet = apps.get_model("billing", "Wallet")
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    Workspace = apps.get_model("accounts", "Workspace")
    for data in PLANS:
        Plan.objects.update_or_create(code=data["code"], defaults=data)
    free = Plan.objects.get(code="free")
    # Workspaces that existed before billing get a wallet and the welcome grant too.
    for workspace in Workspace.objects.filter(wallet__isnull=True):
        wallet = Wallet.objects.create(workspace=workspace, plan=free, balance=0)
        LedgerEntry.objects.create(
            wallet=wallet,
            kind="grant",
            amount=free.signup_grant,
            reason="Welcome credits (Free plan)",
            reference=f"signup:{workspace.public_id}",
        )
        Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + free.signup_grant)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_plans_and_wallets, migrations.RunPython.noop)]
