"""Operations shared by migrations that move a model between apps without touching its table."""

from collections.abc import Callable, Iterable
from typing import Any

from django.db import migrations


def move_content_types(from_app: str, to_app: str, models: Iterable[str]) -> migrations.RunPython:
    """Re-label the moved models' content types, so their permissions (and the groups that
    hold them) and the admin's log entries follow the models to their new app."""
    names = list(models)

    def forwards(apps: Any, schema_editor: Any) -> None:
        content_type = apps.get_model("contenttypes", "ContentType")
        for name in names:
            if not content_type.objects.filter(app_label=to_app, model=name).exists():
                content_type.objects.filter(app_label=from_app, model=name).update(app_label=to_app)

    def backwards(apps: Any, schema_editor: Any) -> None:
        content_type = apps.get_model("contenttypes", "ContentType")
        for name in names:
            if not content_type.objects.filter(app_label=from_app, model=name).exists():
                content_type.objects.filter(app_label=to_app, model=name).update(app_label=from_app)

    return migrations.RunPython(forwards, backwards)


def rename_scheduled_task(old: str, new: str) -> migrations.RunPython:
    """Point a django-q2 schedule at the task's new module."""

    def rename(old_func: str, new_func: str) -> Callable[[Any, Any], None]:
        def run(apps: Any, schema_editor: Any) -> None:
            schedule = apps.get_model("django_q", "Schedule")
            schedule.objects.filter(func=old_func).update(func=new_func)

        return run

    return migrations.RunPython(rename(old, new), rename(new, old))
