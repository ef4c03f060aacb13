# ruff: noqa: E501
"""The ReAG reference's prompt texts, verbatim, in one place.

Source: github.com/aimagelab/ReAG at commit ``cea797f692cb93c30a601cf431a72c65b4a8a480``
(read through the public code index). Every constant below names the file and the
name it has there. Each string is written here as one implicit concatenation per line of
the original, so that the Python value is identical to the reference's value (the
original's ``\\n`` escapes and its no-break space are kept as escapes); the golden tests in
``tests/test_reag_prompts.py`` pin them.

Not reproduced: the training-time prompts of ``prompts.py`` (``REASONING_TRACE_EXTRACTION_*``,
``EXAMPLE_1``/``EXAMPLE_2``, used to build SFT data, never at inference) and the dead
``INFOSEEK_FEW_SHOTS`` tuple that the string of the same name overwrites.

The message building of the generator lives in ``reag_harness.plugins.prompt_styles.base``;
the critic's chat is built here (:func:`critic_messages`) because the critic plugin calls it.
"""

from __future__ import annotations

from typing import Any

SOURCE_REPOSITORY = "aimagelab/ReAG"
SOURCE_COMMIT = "cea797f692cb93c30a601cf431a72c65b4a8a480"

# ---------------------------------------------------------------------------------------
# src/retrieval_module/prompts.py :: SYSTEM_PROMPT_REASONING
# (retrieval.py InferenceModel.generate: the system turn when --extract_reasoning)
SYSTEM_PROMPT_REASONING = "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think>reasoning process here</think><answer>short answer here</answer>"

# src/retrieval_module/prompts.py :: CONTEXT_VQA_PROMPT_training
# (retrieval.py main: ``CONTEXT_VQA_PROMPT_training.format(question=query, context=context)``)
CONTEXT_VQA_PROMPT = (
    "{question}\n"
    "\n"
    "The following paragraphs may contain useful information to help answer the question correctly:\n"
    "{context}\n"
)

# src/retrieval_module/prompts.py :: VQA_PROMPT
# (retrieval.py main, --experiment_type no_retrieval without --only_question:
# ``VQA_PROMPT.format(question=query, answer="")``; ``answer`` is unused by the template)
VQA_PROMPT = (
    "Answer the question based on the image above.\n\n"
    "Question: {question}\n\n"
)

# src/retrieval_module/retrieval.py, main: each kept passage is wrapped as
# ``'<paragraph>' + section + "</paragraph>"``, the wrapped passages are joined with
# ``"\n\n\n"`` and a final ``'.'`` is appended (so an empty list gives ``"."``).
PARAGRAPH_OPEN = "<paragraph>"
PARAGRAPH_CLOSE = "</paragraph>"
PARAGRAPH_JOINER = "\n\n\n"
CONTEXT_END = "."

# src/retrieval_module/retrieval.py, InferenceModel.generate (--short_prompt):
# ``question += '\nGive a short answer.\nShort answer: '`` (after context and few shots)
SHORT_PROMPT_SUFFIX = "\nGive a short answer.\nShort answer: "

# src/retrieval_module/retrieval.py, InferenceModel.generate: --force_reasoning appends
# ``"<think>"`` to the templated text; --extract_reasoning sets ``stop_strings=["</answer>"]``.
FORCED_REASONING_PREFIX = "<think>"
REASONING_STOP = "</answer>"

# src/retrieval_module/prompts.py :: INFOSEEK_FEW_SHOTS (the string; the tuple bound to the
# same name just before it is dead code). The original has a no-break space in "40\xa0cm".
INFOSEEK_FEW_SHOTS = (
    "\n"
    "Here are three good examples of the format that you MUST follow when answering the question based on the image and context.\n"
    "\n"
    "Example 1:\n"
    "What is the closest parent taxonomy of this bird?\n"
    "\n"
    "The following paragraphs may contain useful information to help answer the question correctly:\n"
    "\n"
    "The myrtle warbler (Setophaga coronata) is a small New World warbler.The myrtle warbler has a northerly and easterly distribution, with Audubon's further west.\n"
    "The summer male myrtle warbler has a slate blue back, and yellow crown, rump and flank patch. It has white tail patches, and the breast is streaked black.\n"
    "The stem is greyish green, usually 7-20 (cm) (in Southern Europe exceptionally 40\xa0cm) high, unbranched, erect, and terete. Especially further up, the stem is covered with short transparent glandular hairs.\n"
    "\n"
    "Answer:\n"
    "<think> The image shows a small bird with a distinctive yellow crown, rump, and flank patch, along with a slate blue back and white tail patches. These features are characteristic of the myrtle warbler. The retrieved passages provide information about the myrtle warbler, including its scientific name (Setophaga coronata) and its physical description, which matches the bird in the image. The question asks for the closest parent taxonomy of this bird. The passage explicitly identifies the bird as a myrtle warbler, which is the answer to the question. Therefore, the passage is relevant and provides the necessary information to answer the question.</think>\n"
    "<answer>Myrtle Warbler</answer>\n"
    "\n"
    "Example 2:\n"
    "How many offspring can this animal produce at the same time?\n"
    "\n"
    "The following paragraphs may contain useful information to help answer the question correctly:\n"
    "\n"
    "When threatened, however, they can reach up to 40 (km/h) and maintain that speed for 150 (m). Wombats defend home territories centred on their burrows, and they react aggressively to intruders. The common wombat occupies a range of up to 23 (ha), while the hairy-nosed species have much smaller ranges, of no more than 4 (ha).\n"
    "Female wombats give birth to a single young after a gestation period of roughly 20–30 days, which varies between species. All species have well-developed pouches, which the young leave after about six to seven months. Wombats are weaned after 15 months, and are sexually mature at 18 months\n"
    "For instance, the American Ornithologists' Union places larks just after the crows, shrikes, and vireos. At a finer level of detail, some now place the larks at the beginning of a superfamily Sylvioidea with the swallows, various \"Old World war bler\" and \"babbler\" groups, and others.\n"
    "\n"
    "Answer:\n"
    "<think> The image shows a wombat, a marsupial known for its burrowing behavior. The question asks how many offspring this animal can produce at the same time. The retrieved passage provides relevant information about wombat reproduction, specifically stating that \"Female wombats give birth to a single young after a gestation period of roughly 20–30 days.\" This directly answers the question, indicating that wombats produce one offspring at a time. Therefore, the passage is relevant and provides the necessary information to answer the question.</think>\n"
    "<answer>1.0</answer>\n"
    "\n"
    "Example 3:\n"
    "In which year was this animal born?\n"
    "\n"
    "The following paragraphs may contain useful information to help answer the question correctly:\n"
    "\n"
    "In the summer of 2005, original owner Madeleine Paulson provided the Old Friends Equine retirement facility in Georgetown, Kentucky with a substantial gift to enable them to acquire the horse, bring him home from Japan, and look after him during his retirement years.On November 7, 2005, the seventeen-year-old Fraise died suddenly from a ruptured blood vessel in his abdomen.\n"
    "Fraise (1988–2005) was an American Thoroughbred racehorse best known for winning the 1992 Breeders' Cup Turf.## Background.Fraise was a bay horse bred by Allen E. Paulson.\n"
    "These are sometimes referred to as chip art, silicon art, silicon graffiti or silicon doodling. The 555 timer IC The Operational amplifier 7400-series integrated circuits 4000-series integrated circuits, the CMOS counterpart to the 7400 series (see also:74HC00 series)\n"
    "\n"
    "Answer:\n"
    "<think> The image shows a racehorse, and the question asks for the year in which this animal was born. The retrieved passage provides relevant information about a specific racehorse named Fraise, stating that \"Fraise (1988–2005) was an American Thoroughbred racehorse.\" This indicates that Fraise was born in 1988. Since the image depicts a racehorse and the passage provides the birth year of a racehorse, it is reasonable to conclude that the passage is relevant and provides the necessary information to answer the question.</think>\n"
    "<answer>1988</answer>\n"
)

# src/retrieval_module/prompts.py :: EVQA_FEW_SHOTS. The original writes the section breaks
# inside the passages as ``\n`` escapes in a plain (non-raw) string: they are newlines.
EVQA_FEW_SHOTS = (
    "\n"
    "Here are two good examples of the format that you MUST follow when answering the question based on the image and context.\n"
    "\n"
    "\n"
    "Example 1:\n"
    "On what side of this park does i-78 run?\n"
    "The following paragraphs may contain useful information to help answer the question correctly:\n"
    "In 2000, andrea bocelli gave a concert at the park, broadcast on pbs, as american dream: andrea bocelli's statue of liberty concert.\nin 2001, cirque du soleil premiered its new work.\nin 2013, cher, tim mcgraw, miguel, mariah carey and selena gomez performed at the park for the macy's fourth of july fireworks spectacular.\nthe super bowl li kickoff spectacular was held by the communipaw terminal in 2014, and featured performances from goo goo dolls, and daughtry. erin andrews, jordin sparks, and joe buck hosted the event.\njersey city's freedom and fireworks festival debuted in the park in 2017 independence day and included performances from fireworks by grucci and the jersey city-based kool & the gang. the festival has since been held in the city's exchange place neighborhood.\nalicia keys and swae lee performed at the park for the 2021 mtv video music awards\n"
    "\n"
    "Answer: <think> The image shows a waterfront park with a view of a city skyline across a body of water. There are benches along a paved path, suggesting a pedestrian area designed for public use. The passage mentions various concerts and events held at a park, but it does not specify the location of the park relative to any major roads or highways. The question asks about the side of the park where I-78 runs, which is not addressed in the passage. The passage is irrelevant because it does not provide any information about the location of the park or the highway. The image, while showing a waterfront park, does not give enough context to determine the specific location of the park or the presence of I-78. Therefore, the passage cannot be used to deduce the answer to the question.</think>\n"
    "<answer> western </answer>\n"
    "\n"
    "\n"
    "Example 2:\n"
    "What soil type does this tree grow in?\n"
    "\n"
    "The following paragraphs may contain useful information to help answer the question correctly:\n"
    "in the north, mockernut hickory is found on drier soils of ridges and hillsides and less frequently on moist woodlands and alluvial bottoms. the species grows and develops best on deep, fertile soils. in the cumberland mountains and hills of southern indiana, it grows on dry sites such as south and west slopes or dry ridges. in alabama and mississippi, it grows on sandy soils with shortleaf pine (pinus echinata) and loblolly pine (p taeda). however, most of the merchantable mockernut grows on moderately fertile upland soils.\nmockernut hickory grows primarily on ultisols occurring on an estimated 65% of its range, including much of the southern to northeastern united states. these soils are low in nutrients and usually moist, but during the warm season, they are dry part of the time. along the mid-atlantic and in the southern and western range, mockernut hickory grows on a variety of soils on slopes of 25% or less, including combinations of fine to coarse loams, clays, and well-drained quartz sands. on slopes steeper than 25%, mockernut often grows on coarse loams.\nmockernut grows on inceptisols in an estimated 15% of its range. these clayey soils are moderate to high in nutrients and are primarily in the appalachians on gentle to moderate slopes, where water is available to plants during the growing season. in the northern appalachians on slopes of 25% or less, mockernut hickory grows on poorly drained loams with a fragipan. in the central and southern appalachians on slopes 25% or less, mockernut hickory grows on fine loams. on steeper slopes, it grows on coarse loams.\nin the northwestern part of the range, mockernut grows on mollisols. these soils have a deep, fertile surface horizon greater than 25cm (9.8in) thick. mollisols characteristically form under grass in climates with moderate to high seasonal precipitation.\nmockernut grows on a variety of soils including wet, fine loams, sandy textured soils that often have been burned, plowed, and pastured. alfisols are also present in these areas and contain a medium to high supply of nutrients. water is available to plants more than half the year or more than three consecutive months during the growing season. on slopes of 25% or less, mockernut grows on wet to moist, fine loam soils with a high carbonate content.\n"
    "\n"
    "Answer:\n"
    "<think> The image shows a mockernut hickory tree. The retrieved passage discusses various soil types suitable for this tree, explicitly mentioning \"coarse loams\", \"quartz sands\", \"clays\", and \"fine loams\". The text is highly relevant and lists the specific soil types associated with this species.</think>\n"
    "<answer>coarse loams and quartz sands and clays and fine loams and sandy textured soils</answer>\n"
)

# src/retrieval_module/retrieval.py, main: ``INFOSEEK_FEW_SHOTS + '\n\n\n' + question`` and
# ``EVQA_FEW_SHOTS + '\n\n' + question`` (after the context, before the short-prompt suffix).
FEW_SHOTS = {"infoseek": INFOSEEK_FEW_SHOTS, "evqa": EVQA_FEW_SHOTS}
FEW_SHOT_SEPARATORS = {"infoseek": "\n\n\n", "evqa": "\n\n"}

# ---------------------------------------------------------------------------------------
# The critic (src/critic_module/critic.py, CriticModel.passages_relevance).

# src/retrieval_module/prompts.py :: RELEVANCY_EVAL_SYSTEM_PROMPT (the quotes around Yes/No
# in the "Important" list are typographic, U+201C/U+201D, as in the original).
RELEVANCY_EVAL_SYSTEM_PROMPT = (
    "You are a multimodal reasoning assistant specialized in Knowledge-Based Visual Question Answering (KB-VQA).\n"
    "Your task is to evaluate whether a given text passage provides useful and relevant information for answering a question about an image.\n"
    "\n"
    "You will be given:\n"
    "- Image: a visual scene containing entities, actions, and context.\n"
    "- Question: a natural-language question that refers to the image.\n"
    "- Text Passage: an external knowledge snippet retrieved from a database or the web.\n"
    "\n"
    "You must analyze the semantic alignment between the text, the image, and the question.\n"
    "Follow these steps carefully before giving your final decision:\n"
    "1. Understand the visual scene: Identify the key objects, people, actions, and context visible in the image.\n"
    "2. Interpret the question: Determine what information the question seeks (e.g., factual, reasoning, counting, attribute-based).\n"
    "3. Analyze the text passage: Extract the main claims, facts, and entities mentioned in the text.\n"
    "\n"
    "Compare for relevance: Assess whether the information in the text:\n"
    "- Contains at least one sentence that supports answering the question about the image, OR\n"
    "- Provides background knowledge needed to interpret or reason about the image-question pair.\n"
    "\n"
    "Important:\n"
    "- If even a single sentence in the passage is relevant or useful, consider the entire passage as **relevant** and answer \u201cYes\u201d.\n"
    "- If no part of the passage contributes meaningfully to answering the question, answer \u201cNo\u201d.\n"
    "\n"
    "Output only one word:\n"
    "\"Yes\" -> if the text provides relevant or useful information for answering the question.\n"
    "\"No\" -> if the text is irrelevant or unhelpful."
)

# src/retrieval_module/prompts.py :: SECTION_EVAL_USER_TEMPLATE (trailing spaces and the
# typo "usefule" are the original's).
SECTION_EVAL_USER_TEMPLATE = (
    "Here is the question on the image above: \n"
    "{question}\n"
    "\n"
    "Here is the text passage to analyze:\n"
    "{passage}\n"
    "\n"
    "Does the text passage contain at least one sentence that may have some information usefule to answer the user question? \n"
    "\"Yes\"/\"No\" answer: "
)

# Older name kept for callers written against the placeholder module.
CRITIC_SYSTEM_PROMPT = RELEVANCY_EVAL_SYSTEM_PROMPT

# src/critic_module/critic.py, CriticModel.critique: the token looked up for P(yes).
CRITIC_YES_TOKEN = "Yes"
CRITIC_NO_TOKEN = "No"


def critic_messages(image: str | None, question: str, passage: str) -> list[dict[str, Any]]:
    """The critic's chat, as ``CriticModel.passages_relevance`` builds it.

    System turn: :data:`RELEVANCY_EVAL_SYSTEM_PROMPT`; user turn: the image, then
    :data:`SECTION_EVAL_USER_TEMPLATE` filled with the question and the passage. Render with
    the chat template and ``add_generation_prompt=True``. ``image`` None (no image) leaves the
    image item out, which the reference never does.
    """
    content: list[dict[str, Any]] = []
    if image is not None:
        content.append({"type": "image", "image": image})
    content.append({"type": "text", "text": SECTION_EVAL_USER_TEMPLATE.format(question=question, passage=passage)})
    return [
        {"role": "system", "content": [{"type": "text", "text": RELEVANCY_EVAL_SYSTEM_PROMPT}]},
        {"role": "user", "content": content},
    ]
