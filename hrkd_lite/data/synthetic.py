"""A synthetic multi-domain sentiment generator with known transfer structure (written for this project).

Why: Meta-KD and HRKD claim to exploit knowledge that transfers across domains. On real data nobody
knows which cues transfer. Here every review is built from polarity *cues* whose validity per domain is
known, so notebooks can check a method's domain weights against the ground truth (``similarity``) and
Meta-KD's transferability scores t_i against each example's true share of transferable cues.

Vocabulary: real, lowercase English words that the uncased BERT WordPiece tokenizer handles.

Cue kinds (a cue is a word with a polarity sign, +1 positive / -1 negative, valid in some domains):

- ``shared``: general sentiment words, valid in every domain (good, awful, ...).
- ``group``: valid in all domains of a latent group: media (books, movies, music),
  devices (electronics, kitchen, tools), services (hotels, restaurants, travel).
- ``domain``: valid in one domain only (cues "only the domain knows").
- ``context``: words whose polarity depends on the domain ("unpredictable" plot is good, an
  unpredictable blender is bad; "hot" pan vs hot hotel room; "cheap" meal vs cheap charger).

Domain lexicon L_d = set of (word, sign) valid in d. Ground truth similarity
S[a, b] = |L_a ∩ L_b| / |L_a ∪ L_b| (Jaccard of signed lexicons): symmetric, 1 on the diagonal, higher
within a group, and graded by the context words that bridge groups (loud speaker / loud music).

A cue used in domain d is *transferable* when another generated domain has the same (word, sign).
Per example ``transferable_share`` = transferable cues / cues. It is logged **for evaluation only**
(Meta-KD notebook: t_i vs true share); no method may train on it.

Each review: a neutral opener, 1-3 cue sentences, 0-2 neutral distractor sentences (10-40 words).
Difficulty: negation ("was not sturdy"), a contrary cue in some 3-cue reviews, label noise (default
0.08, so even a perfect model tops out near 92 %), domain-only cues (data-hungry), and context words
(a pooled model that ignores the domain gets them wrong).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import datasets
import numpy as np

from hrkd_lite.data.base import MultiDomainData, make_split
from hrkd_lite.errors import HrkdError

LABEL_NAMES = ["negative", "positive"]

# Catalog order: the first N domains are used. 4 -> books, movies, electronics, kitchen (2 x 2 groups,
# mirroring Amazon's books/dvd vs electronics/kitchen).
CATALOG: tuple[str, ...] = ("books", "movies", "electronics", "kitchen", "hotels", "restaurants",
                            "music", "tools", "travel")
GROUPS: dict[str, str] = {"books": "media", "movies": "media", "music": "media",
                          "electronics": "devices", "kitchen": "devices", "tools": "devices",
                          "hotels": "services", "restaurants": "services", "travel": "services"}

NOUNS: dict[str, list[str]] = {
    "books": ["book", "novel", "story", "plot", "chapter", "ending", "narrator", "sequel", "author"],
    "movies": ["movie", "film", "script", "scene", "cast", "director", "soundtrack", "plot", "ending"],
    "electronics": ["battery", "screen", "charger", "speaker", "laptop", "remote", "keyboard", "camera"],
    "kitchen": ["blender", "toaster", "kettle", "knife", "pan", "mixer", "skillet", "oven"],
    "hotels": ["room", "hotel", "lobby", "bed", "pool", "breakfast", "staff", "bathroom"],
    "restaurants": ["waiter", "menu", "dish", "dessert", "meal", "soup", "service", "salad"],
    "music": ["album", "song", "band", "singer", "track", "chorus", "guitar", "record"],
    "tools": ["drill", "hammer", "saw", "wrench", "ladder", "blade", "clamp", "sander"],
    "travel": ["flight", "trip", "tour", "guide", "bus", "airport", "cruise", "train"],
}

# what a review is about (openers, distractors); NOUNS above are the aspects that cue sentences judge
PRODUCTS: dict[str, list[str]] = {
    "books": ["book", "novel", "paperback"], "movies": ["movie", "film", "dvd"],
    "electronics": ["laptop", "speaker", "camera", "charger"], "kitchen": ["blender", "toaster", "kettle"],
    "hotels": ["hotel", "resort", "inn"], "restaurants": ["restaurant", "diner", "bistro"],
    "music": ["album", "record", "cd"], "tools": ["drill", "saw", "toolkit"],
    "travel": ["tour", "cruise", "trip"],
}

SHARED: dict[int, list[str]] = {
    1: ["good", "great", "excellent", "wonderful", "amazing", "fantastic", "superb", "lovely",
        "pleasant", "outstanding", "impressive", "nice"],
    -1: ["bad", "awful", "terrible", "horrible", "poor", "disappointing", "mediocre", "dreadful",
         "lousy", "worthless", "unpleasant", "pathetic"],
}
GROUP_LEX: dict[str, dict[int, list[str]]] = {
    "media": {1: ["gripping", "moving", "captivating", "engaging", "witty", "thoughtful", "original",
                  "memorable"],
              -1: ["boring", "tedious", "shallow", "forgettable", "pretentious", "clumsy", "lifeless",
                   "confusing"]},
    "devices": {1: ["sturdy", "reliable", "durable", "efficient", "solid", "powerful", "convenient",
                    "versatile"],
                -1: ["flimsy", "defective", "fragile", "faulty", "unreliable", "useless", "wobbly",
                     "clunky"]},
    "services": {1: ["friendly", "clean", "spacious", "welcoming", "cozy", "relaxing", "helpful",
                     "charming"],
                 -1: ["rude", "dirty", "crowded", "overpriced", "cramped", "filthy", "chaotic",
                      "unhelpful"]},
}
DOMAIN_LEX: dict[str, dict[int, list[str]]] = {
    "books": {1: ["insightful", "eloquent", "readable", "profound"],
              -1: ["wordy", "preachy", "unreadable", "repetitive"]},
    "movies": {1: ["cinematic", "suspenseful", "hilarious", "stunning"],
               -1: ["overacted", "unwatchable", "choppy", "campy"]},
    "electronics": {1: ["responsive", "portable", "crisp", "intuitive"],
                    -1: ["laggy", "buggy", "dim", "incompatible"]},
    "kitchen": {1: ["nonstick", "sharp", "sleek", "effortless"],
                -1: ["rusty", "greasy", "warped", "sticky"]},
    "hotels": {1: ["luxurious", "tidy", "comfy", "elegant"],
               -1: ["moldy", "stuffy", "shabby", "musty"]},
    "restaurants": {1: ["delicious", "tasty", "flavorful", "fresh"],
                    -1: ["undercooked", "tasteless", "salty", "soggy"]},
    "music": {1: ["catchy", "melodic", "soulful", "harmonious"],
              -1: ["tuneless", "grating", "monotonous", "screechy"]},
    "tools": {1: ["precise", "ergonomic", "rugged", "accurate"],
              -1: ["blunt", "misaligned", "brittle", "stripped"]},
    "travel": {1: ["scenic", "punctual", "breathtaking", "seamless"],
               -1: ["delayed", "exhausting", "disorganized", "late"]},
}
# word -> {domain: sign}; a domain not listed does not use the word as a cue.
CONTEXT_LEX: dict[str, dict[str, int]] = {
    "unpredictable": {"books": 1, "movies": 1, "music": 1, "electronics": -1, "kitchen": -1,
                      "tools": -1, "travel": -1},
    "predictable": {"books": -1, "movies": -1, "music": -1, "electronics": 1, "tools": 1},
    "simple": {"books": -1, "movies": -1, "kitchen": 1, "tools": 1, "electronics": 1},
    "loud": {"music": 1, "electronics": 1, "kitchen": -1, "hotels": -1, "restaurants": -1},
    "quiet": {"kitchen": 1, "hotels": 1, "electronics": 1, "music": -1},
    "cheap": {"electronics": -1, "kitchen": -1, "tools": -1, "restaurants": 1, "hotels": 1, "travel": 1},
    "dark": {"books": 1, "movies": 1, "hotels": -1, "restaurants": -1},
    "small": {"electronics": 1, "kitchen": 1, "hotels": -1, "restaurants": -1},
    "hot": {"kitchen": 1, "restaurants": 1, "electronics": -1, "hotels": -1},
    "heavy": {"electronics": -1, "tools": -1, "travel": -1, "music": 1},
    "light": {"electronics": 1, "tools": 1, "travel": 1, "books": 1},
    "soft": {"hotels": 1, "music": 1, "tools": -1},
    "bright": {"electronics": 1, "hotels": 1},
    "busy": {"restaurants": 1, "hotels": -1, "travel": -1},
    "raw": {"music": 1, "restaurants": -1},
    "cold": {"restaurants": -1, "hotels": -1, "movies": -1},
}

NEGATIONS = ["not", "not very", "never", "hardly", "far from", "not at all"]
CUE_TEMPLATES = ["the {noun} was {cue}.", "the {noun} is {cue}.", "i found the {noun} {cue}.",
                 "to be honest the {noun} was {cue}.", "overall the {noun} felt {cue}.",
                 "in my opinion this {noun} is {cue}.", "the {noun} turned out {cue}.",
                 "i would say the {noun} is {cue}."]
OPENERS = ["i tried this {noun} last {time}.", "my {person} recommended this {noun} to me.",
           "i first heard about the {noun} {count} weeks ago.", "i picked this {noun} on a whim.",
           "here are my thoughts on the {noun}.", "this review is about the {noun}."]
DISTRACTORS = ["i went for it on a {day}.", "my {person} told me about this {noun}.",
               "i read a few reviews before choosing it.", "my {person} knows the same {noun}.",
               "i compared it with another {noun} first.", "the price was about {count} dollars.",
               "we tried it during the {season}.", "i am writing this on a {day} evening."]
FILL = {"time": ["week", "month", "year", "spring", "summer"],
        "person": ["sister", "brother", "friend", "mother", "father", "neighbor", "coworker"],
        "count": ["two", "three", "four", "five", "six", "ten", "twenty"],
        "day": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
        "season": ["winter", "summer", "holidays", "weekend"]}

MAX_WORDS = 40  # distractor sentences are dropped until a review fits
CUE_KINDS: tuple[str, ...] = ("shared", "group", "domain", "context")
TRANSFER_KIND_WEIGHTS = {"shared": 0.4, "group": 0.4, "context": 0.2}
LOCAL_KIND_WEIGHTS = {"domain": 0.75, "context": 0.25}


@dataclass(frozen=True)
class Cue:
    """One polarity cue: ``word`` with ``sign`` (+1 / -1) of ``kind`` (shared|group|domain|context)."""

    word: str
    sign: int
    kind: str


def domain_cues(domain: str) -> list[Cue]:
    """All cues valid in ``domain`` (its signed lexicon L_d as Cue objects)."""
    out = [Cue(w, s, "shared") for s, ws in SHARED.items() for w in ws]
    out += [Cue(w, s, "group") for s, ws in GROUP_LEX[GROUPS[domain]].items() for w in ws]
    out += [Cue(w, s, "domain") for s, ws in DOMAIN_LEX[domain].items() for w in ws]
    out += [Cue(w, m[domain], "context") for w, m in CONTEXT_LEX.items() if domain in m]
    return out


def lexicon(domain: str) -> set[tuple[str, int]]:
    """The signed lexicon L_d = {(word, sign)} of ``domain``."""
    return {(c.word, c.sign) for c in domain_cues(domain)}


def lexicon_similarity(domains: Sequence[str]) -> np.ndarray:
    """Ground-truth (D, D) similarity: Jaccard overlap of the domains' signed lexicons."""
    lex = [lexicon(d) for d in domains]
    sim = np.ones((len(domains), len(domains)))
    for a in range(len(domains)):
        for b in range(len(domains)):
            if a != b:
                sim[a, b] = len(lex[a] & lex[b]) / len(lex[a] | lex[b])
    return sim


def _resolve_domains(num_domains: int, domains: Sequence[str] | None) -> list[str]:
    if domains is not None:
        names = list(domains)
        bad = [d for d in names if d not in CATALOG]
        if bad:
            raise HrkdError(f"unknown synthetic domain {bad[0]!r}; valid choices: {', '.join(CATALOG)}")
        if len(set(names)) != len(names) or not names:
            raise HrkdError(f"synthetic domains must be distinct and non-empty, got {names}")
        return names
    if not 1 <= num_domains <= len(CATALOG):
        raise HrkdError(f"num_domains must be in 1..{len(CATALOG)}, got {num_domains}")
    return list(CATALOG[:num_domains])


def _fill(template: str, noun: str, rng: np.random.Generator) -> str:
    keys = {k: str(rng.choice(v)) for k, v in FILL.items()}
    return template.format(noun=noun, **keys)


def _pools(domain: str, others: list[str]) -> dict[tuple[bool, str, int], list[Cue]]:
    """Cues of ``domain`` grouped by (transferable, kind, sign)."""
    other_lex = set().union(*(lexicon(o) for o in others)) if others else set()
    pools: dict[tuple[bool, str, int], list[Cue]] = {}
    for c in domain_cues(domain):
        pools.setdefault(((c.word, c.sign) in other_lex, c.kind, c.sign), []).append(c)
    return pools


def _pick_cue(pools: dict, transferable: bool, sign: int, rng: np.random.Generator) -> tuple[Cue, bool]:
    """A cue of ``sign`` from the transferable (or domain-local) pool, falling back to the other pool.

    Returns the cue and whether it is transferable (valid with this sign in another domain)."""
    for tr in (transferable, not transferable):
        weights = TRANSFER_KIND_WEIGHTS if tr else LOCAL_KIND_WEIGHTS
        kinds = [k for k in weights if pools.get((tr, k, sign))]
        if kinds:
            p = np.array([weights[k] for k in kinds])
            kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
            options = pools[(tr, kind, sign)]
            return options[int(rng.integers(len(options)))], tr
    raise HrkdError(f"no cue of sign {sign}")  # unreachable: shared words exist for both signs


def _make_domain(domain: str, others: list[str], n: int, rng: np.random.Generator, *,
                 label_noise: float, negation_rate: float, contrary_rate: float,
                 transfer_rate: float) -> dict[str, list]:
    """Generate ``n`` reviews for ``domain`` as column lists (balanced clean labels)."""
    pools = _pools(domain, others)
    nouns, products = NOUNS[domain], PRODUCTS[domain]
    clean = rng.permutation(np.arange(n) % 2)
    noisy = rng.random(n) < label_noise
    a, b = 4.0 * transfer_rate, 4.0 * (1.0 - transfer_rate)
    cols: dict[str, list] = {k: [] for k in ("text", "label", "clean_label", "noisy", "transferable_share",
                                             "cue_kinds", "cue_words", "n_cues", "n_negated", "n_contrary")}
    for i in range(n):
        y = int(clean[i])
        sign = 1 if y == 1 else -1
        p_transfer = float(rng.beta(a, b)) if 0.0 < transfer_rate < 1.0 else transfer_rate
        n_cues = int(rng.choice([1, 2, 3], p=[0.35, 0.4, 0.25]))
        contrary = -1
        if n_cues == 3 and rng.random() < contrary_rate:
            contrary = int(rng.integers(3))
        cue_sents, kinds, words, n_tr, n_neg = [], [], [], 0, 0
        for j in range(n_cues):
            evidence = -sign if j == contrary else sign
            negate = rng.random() < negation_rate
            tr = bool(rng.random() < p_transfer)
            cue, is_tr = _pick_cue(pools, tr, -evidence if negate else evidence, rng)
            n_tr += int(is_tr)
            phrase = f"{rng.choice(NEGATIONS)} {cue.word}" if negate else cue.word
            n_neg += int(negate)
            kinds.append(cue.kind)
            words.append(("not " if negate else "") + cue.word)
            noun = nouns[int(rng.integers(len(nouns)))]
            cue_sents.append(CUE_TEMPLATES[int(rng.integers(len(CUE_TEMPLATES)))].format(noun=noun, cue=phrase))
        n_dis = int(rng.choice([0, 1, 2], p=[0.3, 0.45, 0.25]))
        opener = _fill(OPENERS[int(rng.integers(len(OPENERS)))],
                       products[int(rng.integers(len(products)))], rng)
        dis = [_fill(DISTRACTORS[int(rng.integers(len(DISTRACTORS)))],
                     products[int(rng.integers(len(products)))], rng) for _ in range(n_dis)]
        while dis and len(" ".join([opener, *cue_sents, *dis]).split()) > MAX_WORDS:
            dis.pop()
        rest = cue_sents + dis
        rest = [rest[k] for k in rng.permutation(len(rest))]
        cols["text"].append(" ".join([opener, *rest]))
        cols["clean_label"].append(y)
        cols["label"].append(1 - y if noisy[i] else y)
        cols["noisy"].append(bool(noisy[i]))
        cols["transferable_share"].append(n_tr / n_cues)
        cols["cue_kinds"].append(",".join(kinds))
        cols["cue_words"].append(",".join(words))
        cols["n_cues"].append(n_cues)
        cols["n_negated"].append(n_neg)
        cols["n_contrary"].append(int(contrary >= 0))
    return cols


def make_synthetic(num_domains: int = 4, per_domain: int = 1000, seed: int = 0, label_noise: float = 0.08,
                   split: tuple[float, float, float] = (0.8, 0.1, 0.1), *,
                   domains: Sequence[str] | None = None, negation_rate: float = 0.2,
                   contrary_rate: float = 0.35, transfer_rate: float = 0.5) -> MultiDomainData:
    """Generate a synthetic multi-domain sentiment dataset (deterministic given ``seed``).

    Args:
        num_domains: how many domains, taken from :data:`CATALOG` in order (ignored if ``domains``).
        per_domain: reviews per domain before splitting (clean labels exactly balanced).
        seed: numpy RNG seed; domain d uses ``default_rng((seed, catalog index of d))``.
        label_noise: probability that a review's label is flipped (all splits); ``clean_label`` keeps
            the truth and ``noisy`` marks flipped rows.
        split: train/dev/test fractions of each domain.
        domains: explicit domain names from :data:`CATALOG`.
        negation_rate: probability that a cue is expressed by negating an opposite word.
        contrary_rate: probability that a 3-cue review has one cue of the opposite polarity.
        transfer_rate: mean probability that a cue is drawn from the transferable pool; the per-review
            probability is Beta(4r, 4(1-r)), so ``transferable_share`` spreads over [0, 1].

    Returns:
        MultiDomainData with ``similarity`` = Jaccard overlap of the signed domain lexicons and
        extras ``clean_label, noisy, transferable_share, cue_kinds, cue_words, n_cues, n_negated,
        n_contrary`` (evaluation only).
    """
    names = _resolve_domains(num_domains, domains)
    if per_domain < 10:
        raise HrkdError(f"per_domain must be >= 10, got {per_domain}")
    for what, val in (("label_noise", label_noise), ("negation_rate", negation_rate),
                      ("contrary_rate", contrary_rate), ("transfer_rate", transfer_rate)):
        if not 0.0 <= val <= (0.5 if what == "label_noise" else 1.0):
            raise HrkdError(f"{what} out of range: {val}")
    if len(split) != 3 or min(split) <= 0 or abs(sum(split) - 1.0) > 1e-6:
        raise HrkdError(f"split must be three positive fractions summing to 1, got {split}")
    n_train = int(round(split[0] * per_domain))
    n_dev = int(round(split[1] * per_domain))
    bounds = [0, n_train, n_train + n_dev, per_domain]
    splits: dict[str, datasets.DatasetDict] = {}
    for d in names:
        rng = np.random.default_rng((seed, CATALOG.index(d)))
        cols = _make_domain(d, [o for o in names if o != d], per_domain, rng, label_noise=label_noise,
                            negation_rate=negation_rate, contrary_rate=contrary_rate,
                            transfer_rate=transfer_rate)
        parts = {}
        for s, lo, hi in zip(("train", "dev", "test"), bounds[:-1], bounds[1:]):
            parts[s] = make_split({k: v[lo:hi] for k, v in cols.items()})
        splits[d] = datasets.DatasetDict(parts)
    info = {"generator": "hrkd_lite.data.synthetic", "seed": seed, "per_domain": per_domain,
            "label_noise": label_noise, "negation_rate": negation_rate, "contrary_rate": contrary_rate,
            "transfer_rate": transfer_rate, "groups": {d: GROUPS[d] for d in names},
            "lexicon": {d: {f"{w}{'+' if s > 0 else '-'}": k for w, s, k in
                            ((c.word, c.sign, c.kind) for c in domain_cues(d))} for d in names},
            "similarity": "Jaccard overlap of signed domain lexicons"}
    return MultiDomainData(source="synthetic", domains=names, label_names=list(LABEL_NAMES), splits=splits,
                           has_pair=False, similarity=lexicon_similarity(names), info=info)
