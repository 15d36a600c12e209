"""Reference implementations of the harmful fine-tuning defenses and attacks (see README.md and cli.py).

Layers, each importing only the ones before it (tests/reference_impl/test_layers.py checks it):
common -> registry, defenses, attacks, testbeds, tables -> pipeline -> runs -> matrix, experiments -> cli.
"""

from . import attacks as _attacks, registry as _registry
from .common import config as _config

# The config checks (common) name the registered methods and attacks without importing the layers above them.
_config.KNOWN_NAMES.update(method=lambda: _registry.METHODS, attack=lambda: _attacks.ATTACKS)
