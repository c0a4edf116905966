"""The worker's side of a sweep's final evaluation: one checkpoint on the test split."""

from __future__ import annotations

from trainers.device import select_device
from trainers.registry import get_trainer
from trainers.runner import short_traceback


def run_final_evaluation(evaluation_id: int) -> None:
    """Claim, evaluate and report (the body of the ``rungs.final_evaluation`` task)."""
    from sweeps import services

    evaluation = services.claim_final_evaluation(evaluation_id)
    if evaluation is None:
        return
    sweep, trial = evaluation.sweep, evaluation.trial
    try:
        trainer = get_trainer(sweep.trainer)
        args = trainer.clean_args(sweep.trainer_args)
        device = select_device(str(args.get("precision", "auto")), prefer_cuda=trainer.uses_gpu)
        metrics = trainer.evaluate_test(args, dict(trial.params), evaluation.checkpoint, device)
    except Exception as exc:  # shown on the sweep page as the reason
        services.finish_final_evaluation(evaluation_id, error=short_traceback(exc, 1500))
        return
    services.finish_final_evaluation(evaluation_id, {k: float(v) for k, v in metrics.items()})
