"""The EVQA task on the real data: official EM + BEM scorer, a memory-mapped KB, Google Lens.

Task arguments (``--task-args k=v,...`` or ``config=task.yaml`` with the same keys): ``queries``
(the ReAG JSON or the official test.csv/val.csv), ``images`` (image root), ``kb`` (a store folder
from ``reag-eval kb build``, or a small KB .json), ``index`` (FAISS folder for eva-clip), ``lens``
(lens_entities.csv), ``split``, ``question_types`` ('|'-separated; ``single_hop`` means every type
but 2_hop), ``image_map``, ``image_pattern``, ``bem_model``, ``bem_vocab``, ``no_bem``,
``candidate_max_chars``, ``on_error``. See docs/data.md.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping, Sequence

from reag_harness.core.errors import HarnessError
from reag_harness.data.taskbase import KBTask, rows_for
from reag_harness.interfaces import Runtime
from reag_harness.records import Sample

from .loader import SINGLE_HOP, load_evqa


class EvqaTask(KBTask):
    """Encyclopedic-VQA: questions over a 2M-page Wikipedia KB; headline = single-hop accuracy."""

    name = "evqa"
    kb_kind = "evqa"
    headline_metric = "single_hop"
    extra_args = ("lens", "bem_model", "bem_vocab", "no_bem", "bem_download", "candidate_max_chars", "bem_batch_size")

    def __init__(self, runtime: Runtime | None = None, **task_args: Any) -> None:
        super().__init__(runtime, **task_args)
        self.no_bem = self._flag("no_bem")
        cut = self.args.get("candidate_max_chars")
        self.candidate_max_chars = int(cut) if cut not in (None, "", "none", "None") else None
        self._scorer: Any = None
        if self.no_bem:
            print("reag-eval: EVQA scored WITHOUT BEM (no_bem): exact match only, a lower bound of the official "
                  "metric; results are labelled 'em-only lower bound (no BEM)'", file=sys.stderr)

    def preflight(self) -> list[str]:
        """Before any stage: the data checks (:meth:`KBTask.data_checks`), then the BEM model and vocab are
        available (or ``no_bem``, or ``bem_download`` allowed)."""
        from .bem import bem_preflight

        return super().preflight() + bem_preflight(self._path("bem_model"), self._path("bem_vocab"),
                                                   no_bem=self.no_bem, allow_download=self._flag("bem_download"))

    def model_checks(self) -> list[Any]:
        """BEM as ``reag-eval data check`` rows: one failed row per problem, else one ok row."""
        from reag_harness.data.check import FAIL, OK, Check

        from .bem import bem_preflight

        problems = bem_preflight(self._path("bem_model"), self._path("bem_vocab"), no_bem=self.no_bem,
                                 allow_download=self._flag("bem_download"))
        return [Check("bem", FAIL, p) for p in problems] or [
            Check("bem", OK, "not used (no_bem)" if self.no_bem else "model and vocab available")]

    def _load(self) -> list[Sample]:
        source, rows = self.query_source()
        return load_evqa(source, self.resolver(), on_error=self.on_error, skipped=self.skipped_inputs, rows=rows,
                         stem=self.args.get("dataset_split") or None)

    def question_type_filter(self) -> set[str] | None:
        types = super().question_type_filter()
        if types and "single_hop" in types:
            types = (types - {"single_hop"}) | set(SINGLE_HOP)
        return types

    def component_args(self, kind: str, name: str) -> dict[str, Any]:
        if kind == "retriever" and name == "google-lens" and self.args.get("lens"):
            return {"lens": self._path("lens")}
        return super().component_args(kind, name)

    def _identity_files(self) -> dict[str, str | None]:
        return {"queries": self._path("queries")}

    # -- scoring ----------------------------------------------------------------------------------
    def scorer(self) -> Any:
        """The official scorer, with BEM unless ``no_bem`` (BEM loads on first use)."""
        if self._scorer is None:
            from .metric import EvqaScorer

            bem = None
            if not self.no_bem:
                from .bem import BemScorer, resolve_bem

                model, vocab = resolve_bem(self._path("bem_model"), self._path("bem_vocab"))
                kwargs: dict[str, Any] = {"model": model, "vocab": vocab}
                if self.args.get("bem_batch_size"):
                    kwargs["batch_size"] = int(self.args["bem_batch_size"])
                kwargs["allow_download"] = self._flag("bem_download")
                bem = BemScorer(**kwargs)
            self._scorer = EvqaScorer(bem=bem, candidate_max_chars=self.candidate_max_chars)
        return self._scorer

    def score(self, samples: Sequence[Sample], predictions: Sequence[str | None]) -> list[dict[str, Any]]:
        if len(samples) != len(predictions):
            raise HarnessError(f"{len(samples)} samples but {len(predictions)} predictions")
        rows = self.scorer().score([s.question for s in samples], [list(s.references) for s in samples],
                                   [str(s.meta["question_type"]) for s in samples], list(predictions))
        for s, row in zip(samples, rows):
            row["question_type"] = s.meta["question_type"]
        return rows

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        from .metric import aggregate_evqa

        rows = [{**sc, "question_type": s.meta["question_type"]} for s, sc in rows_for(samples, scores)]
        out = aggregate_evqa(rows, bem_used=not self.no_bem)
        out["candidate_max_chars"] = self.candidate_max_chars
        if not self.no_bem:
            out["bem_model"] = self._path("bem_model") or "official TF Hub handle"
        return out
