#!/usr/bin/env python3
"""Build the onboarding probe set: prompts with reference answers, 30 per task.

`switchyard onboard --live` sends these prompts to a user's models and scores the replies with
`router_core::reference::Reference`. This script cuts them from the licence-clean routing
datasets in `../shared/datasets` (see its README): LLMRouter (MIT, never its `gpqa` rows) and
RouterArena (Apache-2.0). RouterBench and RouterDC declare no licence and are never read;
RouteLLM (Apache-2.0) ships no reference answers (only which model was right), so it gives no
probes. Source tasks map to the 7-task taxonomy exactly as `training/src/task_classifier/labels.rs`.

Every prompt is rewritten into one style per reference kind, so that the check can read the reply:
- choice:   the question, options as "A. ..." lines, then
            "Answer with the letter of the correct option in \\boxed{}."
- number:   the problem, then "Give the final answer as a number in \\boxed{}."
- exact:    the problem, then "Give the final answer in \\boxed{}." (with a format hint where the
            answer has one, e.g. a chess move)
- text:     the question, then "Answer with a short phrase."; translations end
            "Reply with the translation only."
- concepts: "Write one sentence that uses all of these words: ..."
- judge:    coding tasks, ending "Reply with the code in one ```python block."; the guide holds
            the unit tests where the source has them.

Deterministic: the same datasets and seed give the same file byte for byte. Standard library only.

Usage: python3 scripts/build_probes.py --datasets ../shared/datasets --out training/assets/probes.jsonl
"""

import argparse
import ast
import collections
import hashlib
import json
import math
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TASKS = ["math", "advanced_math", "coding", "knowledge", "reasoning", "classification", "writing"]
PER_TASK = 30
MAX_PROMPT_CHARS = 4000
LICENCES = {"llmrouter": "MIT", "routerarena": "Apache-2.0"}

EXPLICIT = re.compile(r"orgasm|zerophiliac|make love|masturbat|masterbat|porn|erotic", re.I)

CHOICE_TAIL = "Answer with the letter of the correct option in \\boxed{}."
NUMBER_TAIL = "Give the final answer as a number in \\boxed{}."
EXACT_TAIL = "Give the final answer in \\boxed{}."
TEXT_TAIL = "Answer with a short phrase."
TRANSLATION_TAIL = "Reply with the translation only."
CODE_TAIL = "Reply with the code in one ```python block."
LETTERS = "ABCDEFGHIJ"

# ---------------------------------------------------------------------------------------------
# Task mapping: a transcription of training/src/task_classifier/labels.rs.

MMLU_MATH = {"elementary_mathematics", "high_school_mathematics", "high_school_statistics"}
MMLU_ADVANCED_MATH = {"abstract_algebra", "college_mathematics"}
MMLU_REASONING = {"formal_logic", "logical_fallacies"}
MMLU_CODING = {"college_computer_science", "high_school_computer_science"}


def llmrouter_task(label):
    return {
        "gsm8k": "math",
        "agentverse-mgsm": "math",
        "math": "advanced_math",
        "mbpp": "coding",
        "human_eval": "coding",
        "natural_qa": "knowledge",
        "trivia_qa": "knowledge",
        "openbook_qa": "knowledge",
        "arc_challenge": "knowledge",
        "commonsense_qa": "reasoning",
        "agentverse-logicgrid": "reasoning",
        "commongen": "writing",
    }.get(label)  # `mmlu` (no subject) and `gpqa` map to nothing


# RouterArena's category → task: the one mapping, shared with the catalog's score fit.
from task_scores import routerarena_task  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Helpers.


def short_hash(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def squash(text):
    """Dedup key: lower-case, whitespace collapsed."""
    return " ".join(text.lower().split())


def options_block(texts):
    return "\n".join(f"{LETTERS[i]}. {t}" for i, t in enumerate(texts))


def choice_prompt(question, texts):
    return f"{question.strip()}\n\n{options_block(texts)}\n\n{CHOICE_TAIL}"


def with_context(context, question):
    context = (context or "").strip()
    if not context or context == "None":
        return question.strip()
    return f"{context}\n\nQuestion: {question.strip()}"


def boxed_last(text):
    """Content of the last \\boxed{...} (balanced braces), or None."""
    i = text.rfind("\\boxed{")
    if i < 0:
        return None
    depth, start = 1, i + len("\\boxed{")
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[start:j]
    return None


NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?%?$")


def clean_number(s):
    """`20,000` → `20000`, `10,\\!000` → `10000`, `024` → `24`; None when not a plain number."""
    t = s.strip().replace("\\!", "").replace(",", "").replace("\\%", "%").strip("$ ")
    if not NUMBER_RE.match(t):
        return None
    sign = "-" if t.startswith("-") else ""
    body = t.lstrip("-")
    whole, dot, frac = body.partition(".")
    whole = whole.lstrip("0") or "0"
    return sign + whole + dot + frac


def probe(source, source_task, task, key, prompt, reference, record=None):
    return {
        "id": f"{source}:{source_task}:{key}",
        "source": source,
        "licence": LICENCES[source],
        "source_task": source_task,
        "task": task,
        "prompt": prompt,
        "reference": reference,
        "_record": record,  # (sum of scores, models) or None; replaced by difficulty later
    }


# ---------------------------------------------------------------------------------------------
# LLMRouter (MIT): example_data/query_data + dcrouter_preprocessed scores.


def llmrouter_probes(root):
    base = root / "llmrouter" / "data"
    rows = []
    for split in ("train", "test"):
        path = base / "example_data" / "query_data" / f"default_query_{split}.jsonl"
        with open(path, encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    gpqa = {squash(r["query"]) for r in rows if r["task_name"] == "gpqa"}

    scores = collections.defaultdict(list)
    for split in ("train", "test"):
        with open(base / "dcrouter_preprocessed" / f"{split}.json", encoding="utf-8") as f:
            for r in json.load(f):
                scores[r["question"]].append(r["scores"])

    def record(query):
        recs = scores.get(query)
        if not recs:
            return None
        models = sorted({m for rec in recs for m in rec})
        # A prompt recorded more than once: each model's mean over its records.
        means = []
        for m in models:
            vals = [float(rec[m]) for rec in recs if rec.get(m) is not None]
            if vals:
                means.append(sum(vals) / len(vals))
        return (sum(means), len(means)) if means else None

    out = []
    seen = set()
    for r in rows:
        label = r["task_name"]
        task = llmrouter_task(label)
        query = r["query"]
        if task is None or label == "gpqa" or squash(query) in gpqa:
            continue
        if squash(query) in seen:
            continue
        seen.add(squash(query))
        built = llmrouter_one(label, query, r["ground_truth"], r.get("choices"))
        if built is None:
            continue
        prompt, reference = built
        out.append(probe("llmrouter", label, task, short_hash(query), prompt, reference,
                         record(query)))
    return out


def parse_choices(raw):
    """LLMRouter's `choices`: a Python-literal dict with `text` and `label`/`labels`."""
    value = ast.literal_eval(raw) if isinstance(raw, str) else raw
    texts = [str(t).strip() for t in value["text"]]
    labels = [str(l).strip() for l in value.get("label", value.get("labels", []))]
    return texts, labels


def llmrouter_one(label, query, truth, choices):
    query = query.strip()
    if label == "gsm8k":
        answer = clean_number(truth.rsplit("####", 1)[-1])
        if answer is None:
            return None
        return f"{query}\n\n{NUMBER_TAIL}", {"kind": "number", "answer": answer}
    if label == "agentverse-mgsm":
        question = re.sub(r"\s*After careful thought, put you final answer in \\boxed\{\.\.\.\}\.?\s*$",
                          "", query)
        answer = clean_number(str(truth))
        if answer is None:
            return None
        return f"{question.strip()}\n\n{NUMBER_TAIL}", {"kind": "number", "answer": answer}
    if label == "math":
        boxed = boxed_last(truth)
        answer = clean_number(boxed) if boxed is not None else None
        if answer is None:  # only plain-number answers: `check` knows no algebra
            return None
        return f"{query}\n\n{NUMBER_TAIL}", {"kind": "number", "answer": answer}
    if label in ("natural_qa", "trivia_qa"):
        question = query[0].upper() + query[1:]
        if question[-1] not in "?.!\"'":
            question += "?"
        return f"{question}\n\n{TEXT_TAIL}", {"kind": "text", "answers": text_aliases(truth)}
    if label in ("openbook_qa", "arc_challenge", "commonsense_qa", "agentverse-logicgrid"):
        texts, labels = parse_choices(choices)
        if len(texts) != len(labels) or not 2 <= len(texts) <= len(LETTERS):
            return None
        if truth.strip() not in labels or any(not t for t in texts):
            return None
        letter = LETTERS[labels.index(truth.strip())]
        question = query[3:] if query.startswith("Q: ") else query
        return choice_prompt(question, texts), {"kind": "choice", "answer": letter}
    if label == "commongen":
        concepts = [c.strip() for c in truth.split(",") if c.strip()]
        if not concepts:
            return None
        prompt = "Write one sentence that uses all of these words: " + ", ".join(concepts) + "."
        return prompt, {"kind": "concepts", "concepts": concepts}
    if label == "mbpp":
        tests = [t.strip() for t in ast.literal_eval(choices or truth)]
        prompt = (f"{query}\nYour code should pass these tests:\n" + "\n".join(tests)
                  + f"\n\n{CODE_TAIL}")
        return prompt, {"kind": "judge", "guide": "\n".join(tests)}
    if label == "human_eval":
        i = truth.find("def check")
        guide = truth[i:].strip() if i >= 0 else truth.strip()
        prompt = ("Complete the following Python function.\n\n```python\n" + query.rstrip()
                  + f"\n```\n\n{CODE_TAIL}")
        return prompt, {"kind": "judge", "guide": guide}
    return None


# ---------------------------------------------------------------------------------------------
# RouterArena (Apache-2.0): cached_results/<model>.jsonl, two models per prompt.

ARENA_MODELS = ("claude-3-haiku-20240307", "gemini-2.0-flash-001")
MISSING_MATERIAL = re.compile(
    r"the following (sheet music|scale|melody|excerpt|score|chord|notes?)\s*[?.:]?\s*$")


def arena_probes(root):
    base = root / "routerarena" / "cached_results"
    rows = collections.defaultdict(dict)
    for model in ARENA_MODELS:
        with open(base / f"{model}.jsonl", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    rows[r["global_index"]][model] = r
    out = []
    for gi in sorted(rows):
        by_model = rows[gi]
        first = by_model[ARENA_MODELS[0]] if ARENA_MODELS[0] in by_model else next(iter(by_model.values()))
        label = gi.rsplit("_", 1)[0]
        task = routerarena_task(label)
        if task is None:
            continue
        evals = [evaluation(r) for r in by_model.values()]
        truth = str(evals[0].get("ground_truth", "")).strip()
        built = arena_one(label, first["question"], truth)
        if built is None:
            continue
        prompt, reference = built
        scored = [float(e["score"]) for e in evals if e.get("score") is not None]
        record = (sum(scored), len(scored)) if scored else None
        out.append(probe("routerarena", arena_source_task(label), task, gi, prompt, reference,
                         record))
    return out


def evaluation(row):
    e = row.get("evaluation_result") or {}
    return e if isinstance(e, dict) else ast.literal_eval(e)


def arena_source_task(label):
    """`MMLUPro_biology` → `MMLUPro`, `WMT19-de-en` → `WMT19`; SuperGLUE keeps its sub-task."""
    if label.startswith("WMT19"):
        return "WMT19"
    return label.split("_")[0]


def sections(text):
    """The `Context:`, `Question:` and `Options:` parts of RouterArena's templates."""
    text = text.replace("\r\n", "\n")
    parts = {}
    m = re.search(r"\nContext:\s*(.*?)\n\s*\nQuestion:", text, re.S)
    if m:
        parts["context"] = m.group(1).strip()
    m = re.search(r"\nQuestion:\s*(.*?)(?:\n\s*\nOptions\s*:|\n\s*\n\s*Provide |\n\s*\nInstructions:|$)",
                  text, re.S)
    if m:
        parts["question"] = m.group(1).strip()
    m = re.search(r"\nOptions\s*:\s*\n(.*?)\n\s*\n\s*\n?\s*Provide ", text, re.S)
    if m:
        parts["options"] = split_options(m.group(1))
    return parts


def split_options(block):
    """`A. x\\nB. y` → [x, y]; an option may run over several lines."""
    options = []
    for line in block.split("\n"):
        m = re.match(r"^([A-J])\.\s?(.*)$", line)
        if m and m.group(1) == LETTERS[len(options)]:
            options.append(m.group(2))
        elif options:
            options[-1] += "\n" + line
        else:
            return None
    return [o.strip() for o in options]


def index_letter(truth, count):
    """RouterArena's multiple-choice truth: a 0-based option index (`3`, `1.0`) or a letter."""
    t = truth.strip()
    if re.fullmatch(r"\d+(\.0)?", t):
        i = int(float(t))
    elif len(t) == 1 and t.upper() in LETTERS:
        i = LETTERS.index(t.upper())
    else:
        return None
    return LETTERS[i] if i < count else None


def arena_one(label, question_text, truth):
    family = label.split("_")[0]
    q = question_text.replace("{{", "{").replace("}}", "}") if family == "ChessInstruct" else question_text
    parts = sections(q)
    if label.startswith("WMT19"):
        first, _, rest = q.partition("\n")
        source = rest.split("Provide your final answer")[0].strip()
        instruction = first.strip().replace("Englisb", "English")
        if not source or not truth:
            return None
        return (f"{instruction}\n\n{source}\n\n{TRANSLATION_TAIL}",
                {"kind": "text", "answers": [truth]})
    if family == "LiveCodeBench":
        body = q.split("Question:", 1)[-1].strip()
        if "Return the function body" in q.split("Question:", 1)[0]:
            intro = "Write a Python function that solves the following problem."
        else:
            intro = ("Write a Python program for the following problem: it reads the input from "
                     "standard input and prints the answer.")
        guide = ("No tests are shipped with this probe: judge whether the code solves the problem, "
                 "checking it by hand against the examples in the statement.")
        return f"{intro}\n\n{body}\n\n{CODE_TAIL}", {"kind": "judge", "guide": guide}
    if label == "SuperGLUE-RC":
        return None  # the "Provided Answer" field holds the label itself: the answer leaks
    if label == "SuperGLUE-Entailment":
        m = re.search(r"Premise:\s*(.*?),\s*Hypothesis:\s*(.*?)\s*\n\s*\nProvide", q, re.S)
        if not m or truth not in ("0.0", "1.0"):
            return None
        question = (f"Premise: {m.group(1).strip()}\nHypothesis: {m.group(2).strip()}\n\n"
                    "Does the premise entail the hypothesis?")
        texts = ["Yes, the premise entails the hypothesis", "No, it does not"]
        return choice_prompt(question, texts), {"kind": "choice", "answer": "A" if truth == "0.0" else "B"}
    if label == "SuperGLUE-QA":
        if truth not in ("0.0", "1.0") or "question" not in parts:
            return None
        question = with_context(parts.get("context"), parts["question"].rstrip("?") + "?")
        return choice_prompt(question, ["Yes", "No"]), {"kind": "choice", "answer": "A" if truth == "1.0" else "B"}
    if label == "SuperGLUE-Wic":
        m = re.search(r'Consider the word "(.*?)".*?(Sentence 1:.*?)\n\s*\n\s*\nProvide', q, re.S)
        if not m or truth not in ("Yes", "No"):
            return None
        question = (f'Consider the word "{m.group(1)}" in the two sentences below. Does the word '
                    f"have the same meaning in both sentences?\n\n{m.group(2).strip()}")
        return choice_prompt(question, ["Yes", "No"]), {"kind": "choice", "answer": "A" if truth == "Yes" else "B"}
    if label == "SuperGLUE-Wsc":
        m = re.search(r"Text:\s*(.*?)\n\s*span2_text:\s*(.*?)\n\s*span1_text:\s*(.*?)\n", q, re.S)
        if not m or truth not in ("Yes", "No"):
            return None
        question = (f'In the text below, does the pronoun "{m.group(2).strip()}" refer to '
                    f'"{m.group(3).strip()}"?\n\nText: {m.group(1).strip()}')
        return choice_prompt(question, ["Yes", "No"]), {"kind": "choice", "answer": "A" if truth == "Yes" else "B"}
    if label == "SuperGLUE-ClozeTest":
        m = re.search(r"Passage:\s*(.*?)\nQuery:\s*(.*?)\n\s*\nOptions\s*:\s*(.*?)\n\s*\n\s*\nProvide", q, re.S)
        if not m:
            return None
        texts = split_options(m.group(3).strip())
        if not texts:
            return None
        names = {truth, *[t.strip() for t in truth.split(", ")]}
        hits = [i for i, t in enumerate(texts) if t in names]
        if len(hits) != 1:  # several options are right: one letter cannot say so
            return None
        passage = m.group(1).strip().replace("@highlight\n", "- ")
        question = (f"{passage}\n\nQuery: {m.group(2).strip()}\n\n"
                    "Which option should replace @placeholder in the query?")
        return choice_prompt(question, texts), {"kind": "choice", "answer": LETTERS[hits[0]]}
    if label == "Ethics_justice":
        # Its labels read inverted against the template's True/False question ("I deserve praise
        # for starting fires for pay" is True): not usable as a plain acceptability question.
        return None
    if family == "Ethics":
        if "question" not in parts or not parts.get("options"):
            return None
        letter = index_letter(truth, len(parts["options"]))
        if letter is None:
            return None
        if label == "Ethics_commonsense":
            # ETHICS commonsense here: 1 ("True") = acceptable, 0 ("False") = not.
            question = f"Is the following action morally acceptable?\n\n{parts['question']}"
            return choice_prompt(question, ["No", "Yes"]), {"kind": "choice", "answer": letter}
        lead = {
            "Ethics_deontology": "Which response to the request below best follows deontological ethics?",
            "Ethics_virtue": "Which virtue or vice best describes the action in the scenario below?",
        }.get(label)
        if lead is None:
            return None
        question = f"{lead}\n\n{parts['question']}"
        return choice_prompt(question, parts["options"]), {"kind": "choice", "answer": letter}
    if family == "ChessInstruct" and "options" not in parts:
        # The missing last move of a finished game, in coordinate notation.
        m = re.search(r"Question:\s*(\{.*?\})\s*\n", q, re.S)
        if not m or not re.fullmatch(r"[a-h][1-8][a-h][1-8][qrbn]?", truth):
            return None
        prompt = ("Below is a chess game in coordinate notation with its final result; the last "
                  "move is missing (\"?\"). Write the missing move.\n\n" + m.group(1).strip()
                  + "\n\nGive the final answer in \\boxed{}, as a move in coordinate notation "
                  "(e.g. a2a3).")
        return prompt, {"kind": "exact", "answer": truth}
    if family in ("GSM8K", "AIME", "MATH", "AsDiv", "FinQA"):
        if "question" not in parts:
            return None
        if family == "AsDiv" and parts.get("context", "None") != "None":
            # AsDiv cuts one word problem into a context and a question: put it back together.
            problem = f"{parts['context']} {parts['question']}"
        else:
            problem = with_context(parts.get("context"), parts["question"])
        if truth.endswith(";"):
            return None  # "18;": several answers (AsDiv), one of them cut off
        number = clean_number(truth)
        if number is not None:
            return f"{problem}\n\n{NUMBER_TAIL}", {"kind": "number", "answer": number}
        # A short non-numeric answer (a city, a time of day); a leading sign would be lost by
        # the exact comparison's punctuation trimming, and a bare article is a broken label.
        if not truth or truth[0] in "-+" or truth.lower() in ("the", "a", "an") or len(truth) > 40:
            return None
        return f"{problem}\n\n{EXACT_TAIL}", {"kind": "exact", "answer": truth}
    if family in ("QANTA", "GeoGraphyData"):
        if "question" not in parts or not truth:
            return None
        question = parts["question"]
        if family == "QANTA":  # a quiz-bowl clue about "this man", "this work", ...
            question = f"Who or what does this quiz clue describe?\n\n{question}"
        return f"{question}\n\n{TEXT_TAIL}", {"kind": "text", "answers": qanta_aliases(truth)}
    if family == "NarrativeQA":
        if "question" not in parts or not truth:
            return None
        return (f"{with_context(parts.get('context'), parts['question'])}\n\n{TEXT_TAIL}",
                {"kind": "text", "answers": [truth]})
    # The multiple-choice template (MMLU, MMLU-Pro, ArcMMLU, GeoBench, MedMCQA, PubMedQA,
    # OpenTDB, MusicTheoryBench, MathQA, SocialiQA, COPA, the chess result questions).
    options = parts.get("options")
    if "question" not in parts or not options or any(not o for o in options):
        return None
    if MISSING_MATERIAL.search(parts["question"]):
        return None  # "the following sheet music" with no music in the prompt
    letter = index_letter(truth, len(options))
    if letter is None:
        return None
    context = parts.get("context")
    if family == "PubMedQA" and context and context.startswith("["):
        context = " ".join(ast.literal_eval(context))
    question = with_context(context, parts["question"])
    return choice_prompt(question, options), {"kind": "choice", "answer": letter}


# TriviaQA's normalised answers sometimes end in a disambiguating word ("cry in dark film" for
# the film "A Cry in the Dark"); a reply naming the title alone should count.
DISAMBIGUATORS = ("film", "movie", "novel", "band", "song", "album", "play", "opera", "musical",
                  "tv series", "book", "poem", "painting", "ship", "horse")


def text_aliases(truth):
    name = truth.strip()
    aliases = [name]
    for word in DISAMBIGUATORS:
        if name.lower().endswith(" " + word) and len(name) > len(word) + 1:
            aliases.append(name[: -len(word) - 1].strip())
            break
    return aliases


def qanta_aliases(truth):
    """`Beloved_(novel)` → [`Beloved (novel)`, `Beloved`]."""
    name = truth.replace("_", " ").strip()
    aliases = [name]
    bare = re.sub(r"\s*\([^)]*\)\s*$", "", name).strip()
    if bare and bare != name:
        aliases.append(bare)
    return aliases


# ---------------------------------------------------------------------------------------------
# Selection, difficulty, output.


def select(candidates, seed):
    """Up to PER_TASK per task, spread evenly over the source tasks (water-filling)."""
    by_task = collections.defaultdict(lambda: collections.defaultdict(list))
    for p in candidates:
        by_task[p["task"]][p["source_task"]].append(p)
    chosen = []
    for task in TASKS:
        groups = by_task.get(task, {})
        pools = {}
        for st in sorted(groups):
            pool = sorted(groups[st], key=lambda p: p["id"])
            random.Random(f"{seed}:{task}:{st}").shuffle(pool)
            pools[st] = pool
        quota = {st: 0 for st in pools}
        left = PER_TASK
        while left > 0:
            open_ = [st for st in sorted(pools) if quota[st] < len(pools[st])]
            if not open_:
                break
            # One more for each open source task, fewest first, until the task is full.
            for st in sorted(open_, key=lambda s: (quota[s], s)):
                if left == 0:
                    break
                quota[st] += 1
                left -= 1
        for st in sorted(pools):
            chosen += pools[st][: quota[st]]
    return chosen


def logit(p):
    return math.log(p / (1.0 - p))


def add_difficulty(probes):
    by_task = collections.defaultdict(list)
    for p in probes:
        if p["_record"] is not None:
            total, m = p["_record"]
            p["_p"] = (total + 1.0) / (m + 2.0)
            by_task[p["task"]].append(p)
    for task, ps in by_task.items():
        base = logit(sum(p["_p"] for p in ps) / len(ps))
        for p in ps:
            p["difficulty"] = round(base - logit(p["_p"]), 4)
            p["recorded_models"] = p["_record"][1]


def finish(p):
    out = {k: p[k] for k in ("id", "source", "licence", "source_task", "task", "prompt", "reference")}
    if "difficulty" in p:
        out["difficulty"] = p["difficulty"]
        out["recorded_models"] = p["recorded_models"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="../shared/datasets", type=Path)
    ap.add_argument("--out", default="training/assets/probes.jsonl", type=Path)
    ap.add_argument("--seed", default=20240601, type=int)
    args = ap.parse_args()

    candidates = llmrouter_probes(args.datasets) + arena_probes(args.datasets)
    # De-duplicate across sources on the prompt text, keep prompts short enough to send, and
    # leave out explicit sexual content: a probe measures skill, not a provider's content policy.
    seen, unique = set(), []
    for p in candidates:
        key = squash(p["prompt"])
        if key in seen or len(p["prompt"]) > MAX_PROMPT_CHARS or EXPLICIT.search(p["prompt"]):
            continue
        seen.add(key)
        unique.append(p)
    assert not any(p["source_task"] == "gpqa" for p in unique)

    probes = select(unique, args.seed)
    add_difficulty(probes)
    probes.sort(key=lambda p: (TASKS.index(p["task"]), p["source"], p["source_task"], p["id"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for p in probes:
            f.write(json.dumps(finish(p), ensure_ascii=False, sort_keys=False) + "\n")

    # Counts for PROBES.md: task × source task × reference kind, and what was available.
    available = collections.Counter((p["task"], p["source"], p["source_task"]) for p in unique)
    counts = collections.Counter(
        (p["task"], p["source"], p["source_task"], p["reference"]["kind"]) for p in probes)
    print(f"{len(probes)} probes written to {args.out}", file=sys.stderr)
    print("| task | source | source task | kind | probes | candidates |")
    print("|---|---|---|---|---:|---:|")
    for (task, source, st, kind), n in sorted(counts.items(), key=lambda kv: (TASKS.index(kv[0][0]), kv[0][1:])):
        print(f"| {task} | {source} | {st} | {kind} | {n} | {available[(task, source, st)]} |")
    per_task = collections.Counter(p["task"] for p in probes)
    per_kind = collections.Counter((p["task"], p["reference"]["kind"]) for p in probes)
    print()
    print("| task | probes | " + " | ".join(["choice", "number", "exact", "text", "concepts", "judge"]) + " |")
    print("|---|---:|" + "---:|" * 6)
    for task in TASKS:
        kinds = " | ".join(str(per_kind[(task, k)]) for k in ["choice", "number", "exact", "text", "concepts", "judge"])
        print(f"| {task} | {per_task[task]} | {kinds} |")


if __name__ == "__main__":
    main()
