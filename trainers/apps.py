from __future__ import annotations

from django.apps import AppConfig


class TrainersConfig(AppConfig):
    name = "trainers"

    def ready(self) -> None:
        # A spec is validated in sweeps, which sits below trainers (trainers -> sweeps): it is
        # handed the registry here instead of importing it.
        from sweeps.validation import set_trainer_lookup
        from trainers.registry import get_trainer, trainer_keys

        set_trainer_lookup(get_trainer, keys=trainer_keys)
