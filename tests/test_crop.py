"""Query-image crop: the reference's entity rules, and the cropper with a tiny GroundingDINO."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from reag_harness.core.errors import MissingDependencyError
from reag_harness.interfaces import Runtime
from reag_harness.models.crop import (
    RULE_LAST,
    RULE_NONE,
    RULE_PREP,
    RULE_THAT,
    RULE_THE,
    RULE_THIS,
    CropResult,
    QueryCropper,
    detection_prompt,
    extract_visual_entity,
    load_spacy,
)
from reag_harness.records import Sample


# -- a hand-built parse, so the rule logic is tested without any spaCy model -----------------
@dataclass(eq=False)
class Tok:
    text: str
    dep_: str = "dep"
    head: Tok | None = None


@dataclass
class Chunk:
    tokens: list[Tok]
    root: Tok

    def __getitem__(self, i: int) -> Tok:
        return self.tokens[i]

    def __contains__(self, token: object) -> bool:
        return any(token is t for t in self.tokens)


@dataclass
class Doc:
    tokens: list[Tok]
    noun_chunks: list[Chunk] = field(default_factory=list)

    def __iter__(self):
        return iter(self.tokens)


def fake_nlp(doc: Doc):
    return lambda question: doc


def chunk(*tokens: Tok) -> Chunk:
    return Chunk(list(tokens), tokens[-1])


def test_rules_in_reference_order_on_a_hand_built_parse():
    of, in_ = Tok("of"), Tok("In")
    the, height = Tok("the"), Tok("height")
    those, dogs = Tok("those"), Tok("dogs", "pobj", of)
    this, bird = Tok("this"), Tok("bird", "pobj", of)
    # "this" wins over an earlier "the" chunk
    doc = Doc([the, height, of, this, bird], [chunk(the, height), chunk(this, bird)])
    assert extract_visual_entity("q", fake_nlp(doc)) == ("bird", RULE_THIS)
    # "the" wins over "those"
    doc = Doc([those, dogs, the, height], [chunk(those, dogs), chunk(the, height)])
    assert extract_visual_entity("q", fake_nlp(doc)) == ("height", RULE_THE)
    doc = Doc([those, dogs], [chunk(those, dogs)])
    assert extract_visual_entity("q", fake_nlp(doc)) == ("dogs", RULE_THAT)
    # the last pobj of of/by/in/from/about that lies in a chunk; the preposition is case-sensitive
    cats, rome = Tok("cats", "pobj", of), Tok("Rome", "pobj", in_)
    loose = Tok("loose", "pobj", Tok("about"))  # in no chunk: ignored
    doc = Doc([cats, of, rome, loose], [chunk(cats), chunk(rome)])
    assert extract_visual_entity("q", fake_nlp(doc)) == ("cats", RULE_PREP)
    # else the root of the last chunk; nothing at all gives (None, "none")
    doc = Doc([rome], [chunk(Tok("which"), rome)])
    assert extract_visual_entity("q", fake_nlp(doc)) == ("Rome", RULE_LAST)
    assert extract_visual_entity("q", fake_nlp(Doc([Tok("Why")]))) == (None, RULE_NONE)


# -- the real en_core_web_sm pipeline ----------------------------------------------------------
@pytest.fixture(scope="module")
def nlp():
    try:
        return load_spacy("en_core_web_sm")
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is the closest parent taxonomy of this bird?", ("bird", RULE_THIS)),
        ("How tall can these plants grow?", ("plants", RULE_THIS)),
        ("What color are the flowers of this plant?", ("plant", RULE_THIS)),
        ("Who designed the building?", ("building", RULE_THE)),
        ("Who painted the mural in Rome?", ("mural", RULE_THE)),
        ("Where did those birds migrate from?", ("birds", RULE_THAT)),
        ("What is written about dogs?", ("dogs", RULE_PREP)),
        ("When was it built by Romans?", ("Romans", RULE_PREP)),
        ("How old is Rome?", ("Rome", RULE_LAST)),
        ("Which river flows through Paris?", ("Paris", RULE_LAST)),
        ("In which year was that statue built?", ("statue", RULE_LAST)),  # "In" != "in"; spaCy drops "that"
        ("Where is it?", ("it", RULE_LAST)),
        ("Why?", (None, RULE_NONE)),
    ],
)
def test_entity_rules_with_en_core_web_sm(nlp, question, expected):
    assert extract_visual_entity(question, nlp) == expected


def test_detection_prompt():
    assert detection_prompt("Bird") == "a bird."


# -- the cropper -----------------------------------------------------------------------------
class StandInDetector:
    """Returns a fixed box (or none) and records the prompts it was given."""

    def __init__(self, box):
        self.box, self.prompts = box, []

    def detect(self, images, prompts):
        self.prompts.extend(prompts)
        return [self.box for _ in images]

    def identity(self):
        return {"detector": "stand-in"}


@pytest.fixture
def images(tmp_path):
    from PIL import Image

    paths = []
    for i, size in enumerate([(120, 80), (64, 96)]):
        path = tmp_path / f"img{i}.png"
        Image.new("RGBA" if i else "RGB", size, (10 * i, 100, 200)).save(path)
        paths.append(str(path))
    return paths


def fake_entity_nlp(question: str) -> Doc:
    words = [Tok(w.strip("?")) for w in question.split()]
    chunks = [chunk(words[i], words[i + 1]) for i in range(len(words) - 1) if words[i].text == "this"]
    return Doc(words, chunks)


def test_cropper_with_stand_in_detector(images):
    detector = StandInDetector((10.0, 20.0, 50.0, 60.0))
    cropper = QueryCropper(Runtime(), detector=detector, spacy_model=fake_entity_nlp)
    samples = [Sample("a", "What is this Bird?", images[0]), Sample("b", "Why?", images[1]),
               Sample("c", "What is this tower?", images[1] + ".missing")]
    results = cropper.crop(samples)
    assert [type(r) for r in results] == [CropResult] * 3
    assert detector.prompts == ["a bird."]  # only readable images with an entity reach the detector
    assert results[0].image.size == (40, 40) and results[0].box == (10.0, 20.0, 50.0, 60.0)
    assert results[0].reason == "cropped" and results[0].entity == "Bird" and results[0].rule == RULE_THIS
    assert results[1].image is None and results[1].reason == "no visual entity in the question"
    assert results[2].image is None and results[2].reason.startswith("image could not be read")
    none = QueryCropper(Runtime(), detector=StandInDetector(None), spacy_model=fake_entity_nlp).crop(samples[:1])
    assert none[0].image is None and none[0].reason == "no box above the thresholds"
    empty = QueryCropper(Runtime(), detector=StandInDetector((5.0, 5.0, 5.2, 30.0)), spacy_model=fake_entity_nlp)
    assert empty.crop(samples[:1])[0].reason == "empty box"


def test_cropper_with_tiny_grounding_dino(images):
    pytest.importorskip("transformers")
    samples = [Sample("a", "What is this bird?", images[0]), Sample("b", "Who built this tower?", images[1]),
               Sample("c", "Why?", images[0])]
    cropper = QueryCropper(Runtime(batch_size=2), detector="tiny-grounding-dino", spacy_model=fake_entity_nlp)
    results = cropper.crop(samples)
    assert len(results) == 3
    for result in results[:2]:
        assert result.entity in ("bird", "tower")
        if result.reason == "cropped":
            x0, y0, x1, y1 = result.box
            assert result.image.size == (round(x1) - round(x0), round(y1) - round(y0))
        else:
            assert result.image is None
    assert results[2].image is None and results[2].reason == "no visual entity in the question"
    strict = QueryCropper(Runtime(), detector="tiny-grounding-dino", spacy_model=fake_entity_nlp, box_threshold=1.01)
    assert [r.reason for r in strict.crop(samples[:2])] == ["no box above the thresholds"] * 2
    ident = cropper.identity()
    assert ident["detector"]["box_threshold"] == 0.4 and ident["detector"]["text_threshold"] == 0.3
