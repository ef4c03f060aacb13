"""EVQA accuracy (EM then BEM) as a local ``evaluate`` metric, delegating to :mod:`reag_harness.tasks.evqa.metric`.

Load offline with ``evaluate.load(reag_harness.results.scoring.evaluate_module_path("evqa"))``. BEM needs
TensorFlow (``pip install 'reag-harness[evqa]'``); ``no_bem=True`` gives the exact-match lower bound.
"""

from __future__ import annotations

from typing import Any

import datasets
import evaluate

from reag_harness.tasks.evqa.metric import EvqaScorer, aggregate_evqa

_DESCRIPTION = """The official Encyclopedic-VQA metric (evaluation_utils.py): per '|' alternative exact match
(list IoU >= 0.5 for multi_answer), else BEM (p >= 0.5); max over alternatives; mean per question type."""

_KWARGS = """
Args:
    predictions: list of predicted answers (str).
    references: list of dicts with ``question``, ``answer`` (the raw '|'-separated answer string) and
        ``question_type`` (templated | automatic | multi_answer | 2_hop).
    bem_model: BEM SavedModel directory or TF Hub handle (default: the official handle).
    bem_vocab: vocab file or URL (default: the official BERT-base uncased vocab).
    no_bem: exact match only (a lower bound, labelled as such).
    candidate_max_chars: cut predictions before scoring (ReAG uses 128; default no cut).
    bem_batch_size: BEM batch size (default 64).
Returns:
    The dict of :func:`reag_harness.tasks.evqa.metric.aggregate_evqa`.
"""

_CITATION = """@inproceedings{mensink2023encyclopedic,
  title={Encyclopedic VQA: Visual questions about detailed properties of fine-grained categories},
  author={Mensink, Thomas and Uijlings, Jasper and Castrejon, Lluis and Goel, Arushi and Cadar, Felipe
          and Zhou, Howard and Sha, Fei and Araujo, Andr{\\'e} and Ferrari, Vittorio},
  booktitle={ICCV}, year={2023}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class EvqaAccuracy(evaluate.Metric):
    """EVQA accuracy (official semantics, BEM batched)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS,
            features=datasets.Features({
                "predictions": datasets.Value("string"),
                "references": {
                    "question": datasets.Value("string"),
                    "answer": datasets.Value("string"),
                    "question_type": datasets.Value("string"),
                },
            }),
        )

    def _compute(
        self, predictions: list[str], references: list[dict[str, Any]], bem_model: str | None = None,
        bem_vocab: str | None = None, no_bem: bool = False, candidate_max_chars: int | None = None,
        bem_batch_size: int = 64,
    ) -> dict[str, Any]:
        bem = None
        if not no_bem:
            from reag_harness.tasks.evqa.bem import OFFICIAL_BEM_HANDLE, OFFICIAL_VOCAB, BemScorer

            bem = BemScorer(bem_model or OFFICIAL_BEM_HANDLE, bem_vocab or OFFICIAL_VOCAB, batch_size=bem_batch_size)
        rows = EvqaScorer(bem=bem, candidate_max_chars=candidate_max_chars).score(
            [r["question"] for r in references], [r["answer"] for r in references],
            [r["question_type"] for r in references], list(predictions),
        )
        for row, ref in zip(rows, references):
            row["question_type"] = ref["question_type"]
        return aggregate_evqa(rows, bem_used=bem is not None)
