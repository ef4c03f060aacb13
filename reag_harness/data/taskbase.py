"""What the EVQA and InfoSeek tasks share: arguments, the KB, component arguments, selection, fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..core.errors import HarnessError
from ..core.versions import doc_ref, project_url
from ..interfaces import Runtime
from ..records import Sample
from .kb.inputs import (
    ImageResolver,
    as_bool,
    file_identity,
    load_image_map,
    merge_config,
    parse_question_types,
    split_matches,
)

COMMON_ARGS = ("queries", "images", "kb", "index", "split", "question_types", "image_map",
               "image_pattern", "on_error", "config", "non_rgb_images", "dataset", "dataset_split")
NON_RGB_POLICIES = ("convert", "error")
INDEX_RETRIEVERS = ("eva-clip", "clip")


class KBTask:
    """Base of the tasks over the real data. Subclasses set ``name``, ``kb_kind``, ``extra_args``
    and implement ``_load``, ``score`` and ``aggregate``."""

    name = ""
    kb_kind = ""
    loader_version = 1
    extra_args: tuple[str, ...] = ()
    headline_metric = ""
    default_components: Mapping[str, tuple[str, Mapping[str, Any]]] = {
        "retriever": ("eva-clip", {"top_k": 20, "crop": True}),
        "critic": ("reag-critic", {"threshold": 0.1}),
        "prompt_style": ("reag-reasoning", {"all_filtered": True}),
    }

    def __init__(self, runtime: Runtime | None = None, **task_args: Any) -> None:
        self.runtime = runtime or Runtime()
        from .get.taskyaml import with_default_config

        # no data path named: DIR/TASK/task.yaml written by `reag-eval data get` (--task-args still win)
        resolved = with_default_config(self.name, task_args)
        self.data_config: str | None = resolved["config"] if "config" not in task_args and "config" in resolved \
            else None  # the task.yaml `data get` wrote, read because no data path was named
        self.args = merge_config(resolved, (*COMMON_ARGS, *self.extra_args))
        on_error = self.args.get("on_error") or self.runtime.extra.get("on_error") or "stop"
        if on_error not in ("stop", "skip"):
            raise HarnessError(f"task argument on_error={on_error!r}: expected stop or skip")
        self.on_error = str(on_error)
        # "error" reproduces the reference (pinned transformers 4.57.1): a query image that is not RGB
        # makes its GroundingDINO crop raise, and the sample's answer becomes "Error" (docs/fidelity.md)
        self.non_rgb_images = str(self.args.get("non_rgb_images") or "convert")
        if self.non_rgb_images not in NON_RGB_POLICIES:
            raise HarnessError(f"task argument non_rgb_images={self.non_rgb_images!r}: expected convert or error")
        self._all: list[Sample] | None = None
        self.skipped_inputs: list[str] = []  # "file:line: reason" of input lines skipped under on_error=skip
        self._kb: Any = None
        self._selection: dict[str, Any] = {}

    # -- arguments ---------------------------------------------------------------------------------
    def _path(self, key: str, required: bool = False) -> str | None:
        value = self.args.get(key)
        if value in (None, ""):
            if required:
                raise HarnessError(f"task '{self.name}' needs {key}=PATH (in --task-args or a config= YAML file); "
                                   f"see {project_url('data.md')}")
            return None
        return os.path.expanduser(str(value))

    def _flag(self, key: str) -> bool:
        return as_bool(self.args.get(key, False), key)

    def resolver(self) -> ImageResolver:
        image_map = self._path("image_map")
        return ImageResolver(self._path("images"), load_image_map(image_map) if image_map else None,
                             self.args.get("image_pattern") or None)

    # -- samples ----------------------------------------------------------------------------------
    def query_source(self) -> tuple[str, Any]:
        """(name for errors, rows or None): ``dataset=`` rows (a ``datasets`` dataset), else the ``queries`` file."""
        if self.args.get("dataset"):
            if self.args.get("queries"):
                raise HarnessError(f"task '{self.name}': give queries=FILE or dataset=PATH_OR_ID, not both")
            from .hf_datasets import iter_rows, label

            spec, split = str(self.args["dataset"]), self.args.get("dataset_split") or None
            return label(spec, split), iter_rows(spec, split)
        return self._path("queries", required=True) or "", None

    def _load(self) -> list[Sample]:
        raise NotImplementedError

    def all_samples(self) -> list[Sample]:
        if self._all is None:
            self._all = self._load()
        return self._all

    def question_type_filter(self) -> set[str] | None:
        return parse_question_types(self.args.get("question_types"))

    def samples(self, split: str | None = None, limit: int | None = None) -> list[Sample]:
        """The selected questions: ``split`` (argument, else task arg) and ``question_types``, then ``limit``."""
        split = split or self.args.get("split") or None
        types = self.question_type_filter()
        chosen = [s for s in self.all_samples()
                  if split_matches(s.meta.get("split"), split)
                  and (types is None or s.meta.get("question_type") in types)]
        if limit is not None:
            chosen = chosen[: max(0, int(limit))]
        self._selection = {"split": split, "question_types": sorted(types) if types else None, "limit": limit,
                           "n": len(chosen)}
        return chosen

    # -- knowledge base ---------------------------------------------------------------------------
    def knowledge_base(self) -> Any:
        if self._kb is None:
            from .kb.store import open_kb

            self._kb = open_kb(self._path("kb", required=True) or "", kind=self.kb_kind)
        return self._kb

    # -- components -------------------------------------------------------------------------------
    def component_args(self, kind: str, name: str) -> dict[str, Any]:
        """eva-clip: the FAISS index folder (``index=DIR`` holding knn.index + knn.json, or its knn.index)."""
        if kind == "retriever" and name in INDEX_RETRIEVERS and self.args.get("index"):
            index = Path(self._path("index") or "")
            return {"index": str(index if index.is_dir() else index.parent)}
        return {}

    # -- data checks (reag-eval data check, and the run's pre-flight) -------------------------------
    def data_checks(self, deep: bool = True, split: str | None = None, limit: int | None = None,
                    skip_ok: bool | None = None) -> list[Any]:
        """Query file, question-type file, images, KB (+ checksum, gold pages) and FAISS index.

        Checks the questions the run selects (``split``/``limit``; in a run, the selection already
        made). ``deep`` also hashes released files whose checksum is published (once per file).
        Unusable questions fail unless ``skip_ok`` (default: the task's ``on_error`` is skip).
        """
        from .check import FAIL, Check, index_check, kb_checks, known_count_check, load_checks, sample_checks

        queries = self._path("queries")
        if self.args.get("dataset"):
            from .hf_datasets import label

            queries = label(str(self.args["dataset"]), self.args.get("dataset_split") or None)
        if not queries:
            return [Check("queries", FAIL, f"task '{self.name}' needs queries=PATH or dataset=PATH_OR_ID "
                                           f"(see {doc_ref('data.md')})")]
        samples, checks = load_checks(self.all_samples, queries)
        checks += self._file_checks()
        if samples is not None:
            count = known_count_check("query count", queries, len(samples))
            checks += [count] if count else []
            saved = dict(self._selection)
            try:
                chosen = self.samples(split or saved.get("split"), limit if limit is not None else saved.get("limit"))
            finally:
                self._selection = saved
            skip = self.on_error == "skip" if skip_ok is None else skip_ok
            checks += sample_checks(chosen, queries, skip_errors=skip)
        try:
            kb = self.knowledge_base()
        except HarnessError as exc:
            checks.append(Check("knowledge base", FAIL, str(exc)))
        else:
            checks += kb_checks(kb, chosen if samples is not None else [], deep=deep)
        if self.args.get("index"):
            checks.append(index_check(self.component_args("retriever", "eva-clip")["index"]))
        return checks

    def _file_checks(self) -> list[Any]:
        """Checks of the task's other input files (InfoSeek: the question-type file)."""
        return []

    def preflight(self) -> list[str]:
        """The data checks without hashing: one line per failure. Warnings (a released file's checksum or
        row count differs) are kept in ``preflight_warnings``, the facts in ``input_facts`` (results.json)."""
        from .check import failures, published_facts, warnings_of

        checks = self.data_checks(deep=False)
        self.preflight_warnings = warnings_of(checks)
        self.input_facts = published_facts(checks)
        return failures(checks)

    # -- identity ---------------------------------------------------------------------------------
    def _identity_files(self) -> dict[str, str | None]:
        return {"queries": self._path("queries")}

    def fingerprint(self) -> str:
        """Query files' content, the KB, the image root and the sample selection."""
        files = {k: (file_identity(v) if v and os.path.isfile(v) else v) for k, v in self._identity_files().items()}
        if self.args.get("dataset"):
            from .hf_datasets import fingerprint

            spec, split = str(self.args["dataset"]), self.args.get("dataset_split") or None
            files["dataset"] = {"fingerprint": fingerprint(spec, split), "split": split}
        for f in files.values():
            if isinstance(f, dict):
                f.pop("path", None)  # moving the files does not change the data
        blob = {
            "task": self.name,
            "loader": self.loader_version,
            "files": files,
            "images": self._path("images"),
            "image_map": file_identity(m) if (m := self._path("image_map")) else None,
            "image_pattern": self.args.get("image_pattern"),
            "kb": self.knowledge_base().fingerprint(),
            "selection": self._selection or {"split": self.args.get("split"),
                                             "question_types": self.args.get("question_types")},
        }
        return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def rows_for(samples: Sequence[Sample], scores: Sequence[Mapping[str, Any]]) -> list[tuple[Sample, Mapping[str, Any]]]:
    if len(samples) != len(scores):
        raise HarnessError(f"{len(samples)} samples but {len(scores)} scores")
    return list(zip(samples, scores))
