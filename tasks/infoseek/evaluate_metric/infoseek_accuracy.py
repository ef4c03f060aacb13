"""InfoSeek accuracy as a local ``evaluate`` metric, delegating to :mod:`reag_harness.tasks.infoseek.metric`.

Load offline with ``evaluate.load(reag_harness.results.scoring.evaluate_module_path("infoseek"))``.
"""

from __future__ import annotations

from typing import Any

import datasets
import evaluate

from reag_harness.tasks.infoseek.metric import aggregate_infoseek, infoseek_correct

_DESCRIPTION = """The official InfoSeek metric (infoseek_eval.py): STRING/TIME exact match after normalisation,
NUMERICAL range matching, per-split accuracy and the harmonic mean of the rounded split scores."""

_KWARGS = """
Args:
    predictions: list of predicted answers (str).
    references: list of dicts with ``data_id``, ``data_split`` (e.g. "val_unseen_question"),
        ``question_type`` (STRING | NUMERICAL | TIME) and ``answer_eval`` (list of str; for NUMERICAL
        the range as two strings ``[lo, hi]``).
Returns:
    The dict of :func:`reag_harness.tasks.infoseek.metric.aggregate_infoseek` (``final_score``,
    ``unseen_question``, ``unseen_entity``, ``coverage``, ``official``).
"""

_CITATION = """@article{chen2023infoseek,
  title={Can Pre-trained Vision and Language Models Answer Visual Information-Seeking Questions?},
  author={Chen, Yang and Hu, Hexiang and Luan, Yi and Sun, Haitian and Changpinyo, Soravit and Ritter, Alan
          and Chang, Ming-Wei},
  journal={arXiv preprint arXiv:2302.11713}, year={2023}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class InfoseekAccuracy(evaluate.Metric):
    """InfoSeek accuracy (official semantics)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS,
            features=datasets.Features({
                "predictions": datasets.Value("string"),
                "references": {
                    "data_id": datasets.Value("string"),
                    "data_split": datasets.Value("string"),
                    "question_type": datasets.Value("string"),
                    "answer_eval": datasets.Sequence(datasets.Value("string")),
                },
            }),
        )

    def _compute(self, predictions: list[str], references: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [
            {
                "data_id": ref["data_id"],
                "split": ref["data_split"],
                "question_type": ref["question_type"],
                "correct": infoseek_correct(pred, list(ref["answer_eval"]), ref["question_type"]),
            }
            for pred, ref in zip(predictions, references)
        ]
        return aggregate_infoseek(rows)
