from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import registry
from .models import ImageModel, ProviderModel


@receiver([post_save, post_delete], sender=ImageModel)
@receiver([post_save, post_delete], sender=ProviderModel)
def _catalogue_changed(**kwargs) -> None:
    registry.invalidate()
