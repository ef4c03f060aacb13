# ruff: noqa: E501, W291
"""The ReAG reference's prompt texts and the 10 golden prompts, written out by hand for the tests.

The oracle of ``tests/test_reag_prompts.py``: nothing here imports the harness. Source:
github.com/aimagelab/ReAG at commit ``cea797f692cb93c30a601cf431a72c65b4a8a480``.

* The constants below are copied from ``src/retrieval_module/prompts.py`` in the reference's own
  literal form (triple-quoted strings, ``\\`` line continuations, the ``\\n`` escapes inside
  ``EVQA_FEW_SHOTS``), independently of ``reag_harness/prompts/reag.py`` (which writes them as
  one concatenation per line). The only change: the no-break space of ``"40\\xa0cm"`` in
  ``INFOSEEK_FEW_SHOTS`` is written as the escape ``\\xa0`` (the same value, visible).
* :data:`EXPECTED` composes each golden the way the reference does (``retrieval.py``
  ``main`` + ``InferenceModel.generate``; ``critic.py`` ``CriticModel.passages_relevance``)
  with Qwen2.5-VL-Instruct's chat template written out in :func:`qwen_chat`.

Change this file only from the reference, never from the harness's output.
"""

from __future__ import annotations

SOURCE = "aimagelab/ReAG@cea797f692cb93c30a601cf431a72c65b4a8a480"

# ---------------------------------------------------------------------------------------
# src/retrieval_module/prompts.py (the string INFOSEEK_FEW_SHOTS, which overwrites the tuple
# bound to the same name just before it)
# ---------------------------------------------------------------------------------------

INFOSEEK_FEW_SHOTS = """
Here are three good examples of the format that you MUST follow when answering the question based on the image and context.

Example 1:
What is the closest parent taxonomy of this bird?

The following paragraphs may contain useful information to help answer the question correctly:

The myrtle warbler (Setophaga coronata) is a small New World warbler.The myrtle warbler has a northerly and easterly distribution, with Audubon's further west.
The summer male myrtle warbler has a slate blue back, and yellow crown, rump and flank patch. It has white tail patches, and the breast is streaked black.
The stem is greyish green, usually 7-20 (cm) (in Southern Europe exceptionally 40\xa0cm) high, unbranched, erect, and terete. Especially further up, the stem is covered with short transparent glandular hairs.

Answer:
<think> The image shows a small bird with a distinctive yellow crown, rump, and flank patch, along with a slate blue back and white tail patches. These features are characteristic of the myrtle warbler. The retrieved passages provide information about the myrtle warbler, including its scientific name (Setophaga coronata) and its physical description, which matches the bird in the image. The question asks for the closest parent taxonomy of this bird. The passage explicitly identifies the bird as a myrtle warbler, which is the answer to the question. Therefore, the passage is relevant and provides the necessary information to answer the question.</think>
<answer>Myrtle Warbler</answer>

Example 2:
How many offspring can this animal produce at the same time?

The following paragraphs may contain useful information to help answer the question correctly:

When threatened, however, they can reach up to 40 (km/h) and maintain that speed for 150 (m). Wombats defend home territories centred on their burrows, and they react aggressively to intruders. The common wombat occupies a range of up to 23 (ha), while the hairy-nosed species have much smaller ranges, of no more than 4 (ha).
Female wombats give birth to a single young after a gestation period of roughly 20–30 days, which varies between species. All species have well-developed pouches, which the young leave after about six to seven months. Wombats are weaned after 15 months, and are sexually mature at 18 months
For instance, the American Ornithologists' Union places larks just after the crows, shrikes, and vireos. At a finer level of detail, some now place the larks at the beginning of a superfamily Sylvioidea with the swallows, various "Old World war bler" and "babbler" groups, and others.

Answer:
<think> The image shows a wombat, a marsupial known for its burrowing behavior. The question asks how many offspring this animal can produce at the same time. The retrieved passage provides relevant information about wombat reproduction, specifically stating that "Female wombats give birth to a single young after a gestation period of roughly 20–30 days." This directly answers the question, indicating that wombats produce one offspring at a time. Therefore, the passage is relevant and provides the necessary information to answer the question.</think>
<answer>1.0</answer>

Example 3:
In which year was this animal born?

The following paragraphs may contain useful information to help answer the question correctly:

In the summer of 2005, original owner Madeleine Paulson provided the Old Friends Equine retirement facility in Georgetown, Kentucky with a substantial gift to enable them to acquire the horse, bring him home from Japan, and look after him during his retirement years.On November 7, 2005, the seventeen-year-old Fraise died suddenly from a ruptured blood vessel in his abdomen.
Fraise (1988–2005) was an American Thoroughbred racehorse best known for winning the 1992 Breeders' Cup Turf.## Background.Fraise was a bay horse bred by Allen E. Paulson.
These are sometimes referred to as chip art, silicon art, silicon graffiti or silicon doodling. The 555 timer IC The Operational amplifier 7400-series integrated circuits 4000-series integrated circuits, the CMOS counterpart to the 7400 series (see also:74HC00 series)

Answer:
<think> The image shows a racehorse, and the question asks for the year in which this animal was born. The retrieved passage provides relevant information about a specific racehorse named Fraise, stating that "Fraise (1988–2005) was an American Thoroughbred racehorse." This indicates that Fraise was born in 1988. Since the image depicts a racehorse and the passage provides the birth year of a racehorse, it is reasonable to conclude that the passage is relevant and provides the necessary information to answer the question.</think>
<answer>1988</answer>
"""

EVQA_FEW_SHOTS = """
Here are two good examples of the format that you MUST follow when answering the question based on the image and context.


Example 1:
On what side of this park does i-78 run?
The following paragraphs may contain useful information to help answer the question correctly:
In 2000, andrea bocelli gave a concert at the park, broadcast on pbs, as american dream: andrea bocelli's statue of liberty concert.\nin 2001, cirque du soleil premiered its new work.\nin 2013, cher, tim mcgraw, miguel, mariah carey and selena gomez performed at the park for the macy's fourth of july fireworks spectacular.\nthe super bowl li kickoff spectacular was held by the communipaw terminal in 2014, and featured performances from goo goo dolls, and daughtry. erin andrews, jordin sparks, and joe buck hosted the event.\njersey city's freedom and fireworks festival debuted in the park in 2017 independence day and included performances from fireworks by grucci and the jersey city-based kool & the gang. the festival has since been held in the city's exchange place neighborhood.\nalicia keys and swae lee performed at the park for the 2021 mtv video music awards

Answer: <think> The image shows a waterfront park with a view of a city skyline across a body of water. There are benches along a paved path, suggesting a pedestrian area designed for public use. The passage mentions various concerts and events held at a park, but it does not specify the location of the park relative to any major roads or highways. The question asks about the side of the park where I-78 runs, which is not addressed in the passage. The passage is irrelevant because it does not provide any information about the location of the park or the highway. The image, while showing a waterfront park, does not give enough context to determine the specific location of the park or the presence of I-78. Therefore, the passage cannot be used to deduce the answer to the question.</think>
<answer> western </answer>


Example 2:
What soil type does this tree grow in?

The following paragraphs may contain useful information to help answer the question correctly:
in the north, mockernut hickory is found on drier soils of ridges and hillsides and less frequently on moist woodlands and alluvial bottoms. the species grows and develops best on deep, fertile soils. in the cumberland mountains and hills of southern indiana, it grows on dry sites such as south and west slopes or dry ridges. in alabama and mississippi, it grows on sandy soils with shortleaf pine (pinus echinata) and loblolly pine (p taeda). however, most of the merchantable mockernut grows on moderately fertile upland soils.\nmockernut hickory grows primarily on ultisols occurring on an estimated 65% of its range, including much of the southern to northeastern united states. these soils are low in nutrients and usually moist, but during the warm season, they are dry part of the time. along the mid-atlantic and in the southern and western range, mockernut hickory grows on a variety of soils on slopes of 25% or less, including combinations of fine to coarse loams, clays, and well-drained quartz sands. on slopes steeper than 25%, mockernut often grows on coarse loams.\nmockernut grows on inceptisols in an estimated 15% of its range. these clayey soils are moderate to high in nutrients and are primarily in the appalachians on gentle to moderate slopes, where water is available to plants during the growing season. in the northern appalachians on slopes of 25% or less, mockernut hickory grows on poorly drained loams with a fragipan. in the central and southern appalachians on slopes 25% or less, mockernut hickory grows on fine loams. on steeper slopes, it grows on coarse loams.\nin the northwestern part of the range, mockernut grows on mollisols. these soils have a deep, fertile surface horizon greater than 25cm (9.8in) thick. mollisols characteristically form under grass in climates with moderate to high seasonal precipitation.\nmockernut grows on a variety of soils including wet, fine loams, sandy textured soils that often have been burned, plowed, and pastured. alfisols are also present in these areas and contain a medium to high supply of nutrients. water is available to plants more than half the year or more than three consecutive months during the growing season. on slopes of 25% or less, mockernut grows on wet to moist, fine loam soils with a high carbonate content.

Answer:
<think> The image shows a mockernut hickory tree. The retrieved passage discusses various soil types suitable for this tree, explicitly mentioning "coarse loams", "quartz sands", "clays", and "fine loams". The text is highly relevant and lists the specific soil types associated with this species.</think>
<answer>coarse loams and quartz sands and clays and fine loams and sandy textured soils</answer>
"""

VQA_PROMPT = (
"Answer the question based on the image above.\n\n"
"Question: {question}\n\n"
)

CONTEXT_VQA_PROMPT_training="""\
{question}

The following paragraphs may contain useful information to help answer the question correctly:
{context}
"""

RELEVANCY_EVAL_SYSTEM_PROMPT = """\
You are a multimodal reasoning assistant specialized in Knowledge-Based Visual Question Answering (KB-VQA).
Your task is to evaluate whether a given text passage provides useful and relevant information for answering a question about an image.

You will be given:
- Image: a visual scene containing entities, actions, and context.
- Question: a natural-language question that refers to the image.
- Text Passage: an external knowledge snippet retrieved from a database or the web.

You must analyze the semantic alignment between the text, the image, and the question.
Follow these steps carefully before giving your final decision:
1. Understand the visual scene: Identify the key objects, people, actions, and context visible in the image.
2. Interpret the question: Determine what information the question seeks (e.g., factual, reasoning, counting, attribute-based).
3. Analyze the text passage: Extract the main claims, facts, and entities mentioned in the text.

Compare for relevance: Assess whether the information in the text:
- Contains at least one sentence that supports answering the question about the image, OR
- Provides background knowledge needed to interpret or reason about the image-question pair.

Important:
- If even a single sentence in the passage is relevant or useful, consider the entire passage as **relevant** and answer “Yes”.
- If no part of the passage contributes meaningfully to answering the question, answer “No”.

Output only one word:
"Yes" -> if the text provides relevant or useful information for answering the question.
"No" -> if the text is irrelevant or unhelpful.\
"""


SECTION_EVAL_USER_TEMPLATE = """\
Here is the question on the image above: 
{question}

Here is the text passage to analyze:
{passage}

Does the text passage contain at least one sentence that may have some information usefule to answer the user question? 
"Yes"/"No" answer: \
"""


SYSTEM_PROMPT_REASONING = "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think>reasoning process here</think><answer>short answer here</answer>"

# ---------------------------------------------------------------------------------------
# The goldens' inputs (tests/test_reag_prompts.py's SAMPLE and PASSAGES)
# ---------------------------------------------------------------------------------------

QUERY = "What is the closest parent taxonomy of this bird?"
SECTIONS = ["The myrtle warbler (Setophaga coronata) is a small New World warbler.", "It has white tail patches."]

# ---------------------------------------------------------------------------------------
# Qwen2.5-VL-Instruct's chat template (chat_template.json of Qwen/Qwen2.5-VL-3B-Instruct, which
# ReAG-3B/7B and ReAG-Critic keep), written out for one optional system turn and one user turn
# holding one image then one text, rendered with add_generation_prompt=True.
# ---------------------------------------------------------------------------------------

QWEN_DEFAULT_SYSTEM = "You are a helpful assistant."  # the template's own, when the first turn is not 'system'


def qwen_chat(user_text: str, system: str | None = None) -> str:
    """``apply_chat_template([system?, user(image, text)], add_generation_prompt=True)``."""
    return ("<|im_start|>system\n" + (QWEN_DEFAULT_SYSTEM if system is None else system) + "<|im_end|>\n"
            "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>" + user_text + "<|im_end|>\n"
            "<|im_start|>assistant\n")


# ---------------------------------------------------------------------------------------
# retrieval.py main: the question text per flag combination, as the reference builds it
# ---------------------------------------------------------------------------------------

def _with_context(filtered_sections: list[str], all_filtered: bool) -> str:
    """``--experiment_type with_retrieval`` after the critic kept ``filtered_sections``."""
    filtered_sections = ['<paragraph>' + section + "</paragraph>" for section in filtered_sections]
    if len(filtered_sections) == 0 and all_filtered:
        return QUERY
    context = "\n\n\n".join(filtered_sections) + '.'
    return CONTEXT_VQA_PROMPT_training.format(question=QUERY, context=context)


NO_RETRIEVAL = VQA_PROMPT.format(question=QUERY, answer="")  # --experiment_type no_retrieval
SHORT = '\nGive a short answer.\nShort answer: '  # InferenceModel.generate, --short_prompt
THINK = "<think>"  # InferenceModel.generate, --force_reasoning: appended to the templated text


def _reasoning(question: str) -> str:
    """``--extract_reasoning --force_reasoning``: R1 system turn, ``<think>`` after the generation prompt."""
    return qwen_chat(question, system=SYSTEM_PROMPT_REASONING) + THINK


#: golden name (tests/goldens/prompts/<name>.txt) -> the text the reference feeds the model
EXPECTED: dict[str, str] = {
    # critic.py passages_relevance(passages=[SECTIONS[0]], questions=[QUERY], ...)
    "critic": qwen_chat(SECTION_EVAL_USER_TEMPLATE.format(question=QUERY, passage=SECTIONS[0]),
                        system=RELEVANCY_EVAL_SYSTEM_PROMPT),
    # the released scripts: --extract_reasoning --force_reasoning --all_filtered, both sections kept
    "reag_reasoning": _reasoning(_with_context(SECTIONS, all_filtered=True)),
    # ... the critic kept nothing: the bare question
    "reag_reasoning_all_filtered": _reasoning(_with_context([], all_filtered=True)),
    # ... the critic kept nothing, without --all_filtered: the context is "."
    "reag_reasoning_dot_context": _reasoning(_with_context([], all_filtered=False)),
    # ... --experiment_type no_retrieval
    "reag_reasoning_no_retrieval": _reasoning(NO_RETRIEVAL),
    # ... --few_shots, --dataset_name infoseek
    "few_shot_infoseek": _reasoning(INFOSEEK_FEW_SHOTS + '\n\n\n' + _with_context(SECTIONS, all_filtered=True)),
    # ... --few_shots, --dataset_name evqa
    "few_shot_evqa": _reasoning(EVQA_FEW_SHOTS + '\n\n' + _with_context(SECTIONS, all_filtered=True)),
    # a plain model (no reasoning flags) with --short_prompt, both sections kept
    "short": qwen_chat(_with_context(SECTIONS, all_filtered=True) + SHORT),
    # a plain model, --experiment_type no_retrieval
    "direct": qwen_chat(NO_RETRIEVAL),
    # a plain model, --experiment_type no_retrieval --only_question
    "only_question": qwen_chat(QUERY),
}
