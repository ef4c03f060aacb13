"""The InfoSeek task on the real data: the official scorer, a memory-mapped KB.

Task arguments (``--task-args k=v,...`` or ``config=task.yaml`` with the same keys): ``queries``
(the ReAG JSONL or the official infoseek_val.jsonl), ``images`` (image root; OVEN ``image_id``),
``kb`` (a store folder from ``reag-eval kb build``, or a small KB .json), ``qtypes``
(infoseek_val_qtype.jsonl), ``references`` (infoseek_val.jsonl, when the query file lacks
``answer_eval`` / ``data_split``), ``index`` (FAISS folder for eva-clip), ``split``
(unseen_question | unseen_entity | a raw data_split), ``question_types`` ('|'-separated),
``image_map``, ``image_pattern``, ``on_error``. See docs/data.md.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from reag_harness.core.errors import HarnessError, InputError
from reag_harness.data.taskbase import KBTask, rows_for
from reag_harness.records import Sample

from .loader import load_infoseek, load_qtypes, load_references


class InfoSeekTask(KBTask):
    """InfoSeek val: headline = the official harmonic mean of unseen-question and unseen-entity."""

    name = "infoseek"
    kb_kind = "infoseek"
    headline_metric = "final_score"
    extra_args = ("qtypes", "references")

    def _load(self) -> list[Sample]:
        qtypes_path, refs_path = self._path("qtypes"), self._path("references")
        source, rows = self.query_source()
        return load_infoseek(
            source, self.resolver(), rows=rows,
            qtypes=load_qtypes(qtypes_path) if qtypes_path else None,
            references=load_references(refs_path) if refs_path else None,
            on_error=self.on_error, qtypes_path=qtypes_path or "", references_path=refs_path or "",
            skipped=self.skipped_inputs,
        )

    def question_type_filter(self) -> set[str] | None:
        types = super().question_type_filter()
        return {t.lower() for t in types} if types else None

    def samples(self, split: str | None = None, limit: int | None = None) -> list[Sample]:
        types = self.question_type_filter()
        if types is None:
            return super().samples(split, limit)
        # Question types are matched case-insensitively (the qtype file says STRING / NUMERICAL / TIME).
        saved = self.args.get("question_types")
        try:
            self.args["question_types"] = None
            chosen = super().samples(split, None)
        finally:
            self.args["question_types"] = saved
        chosen = [s for s in chosen if str(s.meta.get("question_type", "")).lower() in types]
        if limit is not None:
            chosen = chosen[: max(0, int(limit))]
        self._selection.update(question_types=sorted(types), limit=limit, n=len(chosen))
        return chosen

    def _file_checks(self) -> list[Any]:
        from reag_harness.data.check import FAIL, OK, Check

        path = self._path("qtypes")
        if not path:
            return [Check("question types", OK, "from the query file (no qtypes= file given)")]
        try:
            n = len(load_qtypes(path))
        except (HarnessError, OSError) as exc:
            return [Check("question types", FAIL, f"{path}: {exc}")]
        return [Check("question types", OK, f"{n} rows in {path}")]

    def _identity_files(self) -> dict[str, str | None]:
        return {"queries": self._path("queries"), "qtypes": self._path("qtypes"),
                "references": self._path("references")}

    def score(self, samples: Sequence[Sample], predictions: Sequence[str | None]) -> list[dict[str, Any]]:
        from .metric import infoseek_correct

        if len(samples) != len(predictions):
            raise HarnessError(f"{len(samples)} samples but {len(predictions)} predictions")
        out = []
        for s, pred in zip(samples, predictions):
            if "answer_eval" not in s.meta:  # a sample kept with an input error (on_error=skip)
                out.append({"correct": 0, "missing": True})
                continue
            try:
                ok = infoseek_correct(pred, s.meta["answer_eval"], str(s.meta["question_type"]))
            except (KeyError, TypeError, IndexError, ValueError) as exc:
                raise InputError(str(s.meta.get("source_file", "")), f"unusable reference for {s.id!r}: {exc}",
                                 line=s.meta.get("source_line"), field="answer_eval") from exc
            out.append({"correct": int(ok) if pred is not None else 0, "missing": pred is None})
        return out

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        from .metric import aggregate_infoseek

        rows = [{"data_id": s.id, "split": str(s.meta.get("split", "")),
                 "question_type": str(s.meta.get("question_type", "")),
                 "correct": bool(sc.get("correct")), "missing": bool(sc.get("missing", False))}
                for s, sc in rows_for(samples, scores)]
        return aggregate_infoseek(rows)
