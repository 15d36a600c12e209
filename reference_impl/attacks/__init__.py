"""Registry of attacks: how the user's fine-tuning data is made (site/reference/protocol.md, 'Attacks').

A run picks one with `finetune.attack` (default `mixture`) and sets its Config fields with
`finetune.attack_config.<field>=...`. Adding an attack = one file here declaring
`ATTACK = AttackSpec(...)` (reference_impl/common/method.py) + one line in ATTACKS + one test.
"""

from __future__ import annotations

import importlib

DEFAULT_ATTACK = "mixture"  # the attack every defense was scored against before the seam (site/reference/protocol.md, 'Attacks')

#: attack name -> module (plain data: `python -m reference_impl list` reads it without importing the modules).
ATTACKS: dict[str, str] = {
    "mixture": "reference_impl.attacks.mixture",
    "pure_bad": "reference_impl.attacks.pure_bad",
    "identity_shift": "reference_impl.attacks.identity_shift",
    "benign": "reference_impl.attacks.benign",
    "virus": "reference_impl.attacks.virus",
}


def load_attack(name: str):
    """(module, its AttackSpec); an unknown name is a one-line ValueError listing the known ones."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r} (known: {', '.join(ATTACKS)})")
    module = importlib.import_module(ATTACKS[name])
    return module, module.ATTACK
