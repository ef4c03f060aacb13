"""The offline ``demo`` task: 24 image questions over a 36-page knowledge base written for
this project (fictional entities, EVQA-style pages). Images are drawn on first use.

With the default tiny random checkpoints the answers are meaningless; the task shows that
retrieval, critic, generation and scoring run end to end, offline, in seconds.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from reag_harness.core import paths
from reag_harness.core.atomic import remove_stale, temp_tag
from reag_harness.core.errors import InputError
from reag_harness.core.jsonio import iter_jsonl
from reag_harness.data.kb.memory import InMemoryKB
from reag_harness.interfaces import Runtime
from reag_harness.models.tiny.pictures import draw_picture
from reag_harness.records import Sample

HERE = Path(__file__).parent
IMAGES_VERSION = "v1"


def normalize(text: str) -> str:
    """InfoSeek's official answer normalisation (the demo scores like InfoSeek's STRING type)."""
    from reag_harness.tasks.infoseek.metric import normalize_answer

    return normalize_answer(text)


#: The ReAG critic and generators whose hub checkpoints the demo replaces by the tiny Qwen2.5-VL (same family)
OFFLINE_QWEN = frozenset({("critic", "reag-critic"), ("generator", "reag-3b"), ("generator", "reag-7b"),
                          ("generator", "qwen2.5-vl-3b"), ("generator", "qwen2.5-vl-7b")})


class DemoTask:
    """The built-in offline task; ``limit`` keeps the first N questions."""

    name = "demo"
    headline_metric = "accuracy"
    default_components: Mapping[str, tuple[str, Mapping[str, Any]]] = {
        "retriever": ("tiny-eva-clip", {"top_k": 5}),
        "critic": ("tiny-critic", {"threshold": 0.1}),  # the paper's operating point: the demo shows filtering
        "generator": ("tiny-qwen2.5-vl", {}),
        "prompt_style": ("reag-reasoning", {}),
    }

    def __init__(self, runtime: Runtime | None = None, questions: str | None = None, kb: str | None = None,
                 dataset: str | None = None, dataset_split: str | None = None) -> None:
        self.runtime = runtime or Runtime()
        if questions and dataset:
            raise InputError(str(dataset), "give either questions= or dataset=, not both", field="dataset")
        self.dataset, self.dataset_split = dataset, dataset_split
        self.questions_path = Path(questions) if questions else HERE / "questions.jsonl"
        self.kb_path = Path(kb) if kb else HERE / "kb.json"
        self._kb: InMemoryKB | None = None

    def knowledge_base(self) -> InMemoryKB:
        if self._kb is None:
            self._kb = InMemoryKB.from_json(str(self.kb_path), kind="evqa")
        return self._kb

    def image_dir(self) -> Path:
        return paths.cache_dir() / "demo" / f"images-{IMAGES_VERSION}"

    def samples(self, split: str | None = None, limit: int | None = None) -> list[Sample]:
        rows = self.rows()
        kb = self.knowledge_base()
        out = []
        for line, row in rows[:limit] if limit else rows:
            if row["entity"] not in kb:
                raise InputError(self.source(), f"entity {row['entity']!r} is not in the KB",
                                 line=line, field="entity")
            out.append(Sample(
                id=row["id"], question=row["question"], image=str(self.image_path(row["image"], line)),
                references=tuple(row["answers"]),
                meta={"gold_pages": [row["entity"]], "evidence_section_id": row.get("evidence_section_id"),
                      "question_type": row.get("question_type", "templated")},
            ))
        self.draw_images(rows)
        return out

    def source(self) -> str:
        if self.dataset:
            from reag_harness.data.hf_datasets import label

            return label(self.dataset, self.dataset_split)
        return str(self.questions_path)

    def rows(self) -> list[tuple[int, dict[str, Any]]]:
        """(line or row number, question) from the JSONL file or the ``datasets`` dataset."""
        if self.dataset:
            from reag_harness.data.hf_datasets import iter_rows

            return check_questions(iter_rows(self.dataset, self.dataset_split), self.source())
        return read_questions(self.questions_path)

    def image_path(self, name: str, line: int) -> Path:
        """The image's path inside the task's image folder; a name that leaves it is refused."""
        folder = self.image_dir().resolve()
        target = (folder / name).resolve()
        if not name or Path(name).is_absolute() or target.parent != folder:
            raise InputError(self.source(), f"image name {name!r} must be a plain file name inside the "
                             "demo image folder", line=line, field="image")
        return target

    def draw_images(self, rows: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """One picture per entity: its colour, a shape and its title (deterministic, :func:`draw_picture`).

        Safe when several processes draw at once: each writes its own temporary file and renames it.
        """
        folder = self.image_dir()
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale(folder, ".*.tmp.png")
        kb = self.knowledge_base()
        for line, row in rows:
            target = self.image_path(row["image"], line)
            if target.exists():
                continue
            look = kb.page(row["entity"]).get("demo_image", {})
            img = draw_picture(kb.title(row["entity"]), look.get("colour", "grey"), look.get("shape", "square"))
            tmp = target.with_name(f".{target.name}.{temp_tag()}.tmp.png")
            try:
                img.save(tmp)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)

    def component_args(self, kind: str, name: str) -> dict[str, Any]:
        """Offline stand-ins for the ReAG components: for the retriever the tiny EVA model, a title index and
        a tiny detector; for ReAG-Critic and the Qwen2.5-VL-family generators the tiny Qwen2.5-VL checkpoint.

        So ``--generator reag-3b`` (the full ReAG preset, crop and critic included) runs on the demo offline;
        ``--generator-args pretrained=...`` / ``--critic-args pretrained=...`` still name another checkpoint.
        """
        if (kind, name) in OFFLINE_QWEN:
            return {"pretrained": "tiny:qwen2.5-vl"}
        if (kind, name) != ("retriever", "eva-clip"):
            return {}
        from reag_harness.models.tiny.clip import TINY_MODEL, tiny_clip_checkpoint
        from reag_harness.models.tiny.grounding_dino import tiny_grounding_dino_path

        return {"encoder": "open_clip", "model": TINY_MODEL, "pretrained": str(tiny_clip_checkpoint()),
                "index": "titles", "crop_args": {"detector": str(tiny_grounding_dino_path())}}

    def score(self, samples: Sequence[Sample], predictions: Sequence[str | None]) -> list[dict[str, Any]]:
        out = []
        for s, pred in zip(samples, predictions):
            ok = pred is not None and normalize(pred) in {normalize(r) for r in s.references}
            out.append({"correct": int(ok), "missing": pred is None})
        return out

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        def acc(rows: list[Mapping[str, Any]]) -> float:
            return round(100 * sum(r["correct"] for r in rows) / len(rows), 2) if rows else 0.0

        by_type: dict[str, list[Mapping[str, Any]]] = {}
        for s, sc in zip(samples, scores):
            by_type.setdefault(s.meta.get("question_type", "all"), []).append(sc)
        return {"accuracy": acc(list(scores)), "n": len(scores),
                "by_question_type": {t: acc(rows) for t, rows in sorted(by_type.items())}}

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        if self.dataset:
            from reag_harness.data.hf_datasets import fingerprint

            h.update(f"dataset:{fingerprint(self.dataset, self.dataset_split)}".encode())
        else:
            h.update(self.questions_path.read_bytes())
        h.update(self.kb_path.read_bytes())
        h.update(IMAGES_VERSION.encode())
        return h.hexdigest()[:16]


def read_questions(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) for each question; malformed lines name file, line and field."""
    return check_questions(iter_jsonl(path), str(path))


def check_questions(rows: Iterable[tuple[int, Any]], source: str) -> list[tuple[int, dict[str, Any]]]:
    """The rows, each checked for the fields a question needs and their types (errors name the source,
    line and field): id a string or an integer, question, entity and image strings, answers a list of strings."""
    from reag_harness.core import row_checks

    out = []
    for n, row in rows:
        for key in ("id", "question", "answers", "entity", "image"):
            if not isinstance(row, dict) or row.get(key) is None:
                raise InputError(source, "missing", line=n, field=key)
        row = {**row, "id": row_checks.row_id(row["id"], source, n)}  # an integer id becomes its string
        for key in ("question", "entity", "image"):
            row_checks.text(row[key], source, n, key)
        if not isinstance(row["answers"], list) or not row["answers"]:
            raise InputError(source, "must be a non-empty list of strings", line=n, field="answers")
        for i, answer in enumerate(row["answers"]):
            row_checks.text(answer, source, n, f"answers[{i}]")
        out.append((n, row))
    return out
