"""Accuracy predictors (once-for-all style): collect (arch, accuracy) pairs, fit an MLP, verify a search.

::

    from raynas.predictor import sample_archs, evaluate_archs, fit_predictor, PredictorConfig
    archs = sample_archs(space, 200, seed=0)
    rows = evaluate_archs(raynas.SupernetEvaluator("runs/sn"), archs, concurrency=2)   # Ray tasks
    ok = [r for r in rows if "error" not in r]
    predictor = fit_predictor(space, [r["arch"] for r in ok], [r["accuracy"] for r in ok], PredictorConfig())
    predictor.save("predictor.pt")
    evaluator = raynas.PredictorEvaluator(predictor, latency_table=table)
"""

from raynas.predictor.collect import evaluate_archs, load_pairs, sample_archs, save_pairs
from raynas.predictor.fit import PredictorConfig, fit_predictor, score_predictor
from raynas.predictor.model import AccuracyPredictor
from raynas.predictor.verify import top_candidates, verify_top

__all__ = [
    "AccuracyPredictor",
    "PredictorConfig",
    "fit_predictor",
    "score_predictor",
    "sample_archs",
    "evaluate_archs",
    "save_pairs",
    "load_pairs",
    "top_candidates",
    "verify_top",
]
