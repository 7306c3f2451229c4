"""Hardware, model and precision catalogs (pure data with sources)."""

from sites.catalog.hardware import HARDWARE, HardwareSpec, get_hardware
from sites.catalog.models import MODELS, ModelSpec, get_model
from sites.catalog.precisions import KV_BYTES, WEIGHT_BYTES, check_precision

__all__ = [
    "HARDWARE",
    "KV_BYTES",
    "MODELS",
    "WEIGHT_BYTES",
    "HardwareSpec",
    "ModelSpec",
    "check_precision",
    "get_hardware",
    "get_model",
]
