from django.apps import AppConfig
from django.db.models.signals import post_migrate

MODERATORS_GROUP = "Moderators"
# Only what working the queue needs: act on it, read the audit log, the blocklist and reports.
MODERATOR_PERMISSIONS = [
    ("moderation", "moderate"),
    ("moderation", "view_auditentry"),
    ("moderation", "view_blockedhash"),
    ("moderation", "view_report"),
]


def ensure_moderators_group(using="default", **kwargs):
    """Create the Moderators group with exactly its permissions (after every migrate, so a
    permission added by hand in the admin does not outlive the next deploy)."""
    # Not at the top: an AppConfig module is imported before the models are ready.
    from django.contrib.auth.models import Group, Permission  # noqa: PLC0415

    group, _ = Group.objects.using(using).get_or_create(name=MODERATORS_GROUP)
    perms = [
        Permission.objects.using(using)
        .filter(content_type__app_label=app, codename=codename)
        .first()
        for app, codename in MODERATOR_PERMISSIONS
    ]
    group.permissions.set([p for p in perms if p is not None])


class ModerationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "moderation"

    def ready(self):
        post_migrate.connect(ensure_moderators_group, sender=self)
