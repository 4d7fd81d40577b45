#!/usr/bin/python3
"""What the built-in model's training text says about love and hate words, counted without any model.

    love_hate_in_corpus.py --work DIR [--window 10]

For every word of the training split (the same documents and held-out rule as train_default_model.py, whose
--work folder holds the fetched corpus; words as runs of letters, lower-cased): is one of the love words
(src/main/resources/steer4j/demo/love-words.txt) among the
previous WINDOW words, and is one of the hate words? Printed per kind of context: how often the next word is
a love word and how often a hate word. A model that learns this text predicts the same; a steering vector
toward "love" makes the context look like the love rows, so the hate words' next-word probability can only
fall with it if a love context makes hate words rarer than a neutral one does (in the King James text of an
earlier built-in model it made them twice as common).
"""
import argparse
import collections
import os

import regex

from train_default_model import REPO_ROOT, documents, split

DEMO = os.path.join(REPO_ROOT, "src", "main", "resources", "steer4j", "demo")

CONTEXTS = [("neither", False, False), ("a love word, no hate word", True, False),
            ("a hate word, no love word", False, True), ("both", True, True)]


def word_list(name):
    with open(os.path.join(DEMO, name), encoding="utf-8") as f:
        return {l.strip() for l in f if l.strip() and not l.startswith("#")}


def training_words(work):
    """The training split's words, each document followed by None (a context does not cross documents)."""
    for held_out, _, doc in split(documents(work)):
        if not held_out:
            yield from (w.lower() for w in regex.findall(r"\p{L}+", doc))
            yield None


def next_word_rates(words, love, hate, window):
    """For each kind of context: (positions, next word a love word, next word a hate word, which hate words)."""
    counts = collections.defaultdict(lambda: [0, 0, 0, collections.Counter()])
    last_love = last_hate = None
    for i, w in enumerate(words):
        if w is None:
            last_love = last_hate = None
            continue
        key = (last_love is not None and i - last_love <= window, last_hate is not None and i - last_hate <= window)
        c = counts[key]
        c[0] += 1
        if w in love:
            c[1] += 1
            last_love = i
        if w in hate:
            c[2] += 1
            c[3][w] += 1
            last_hate = i
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="train_default_model.py's --work folder")
    ap.add_argument("--window", type=int, default=10, help="how many previous words make the context")
    args = ap.parse_args()
    counts = next_word_rates(training_words(args.work), word_list("love-words.txt"), word_list("hate-words.txt"),
                             args.window)
    neutral = counts[(False, False)]
    print(f"training split; context = the previous {args.window} words")
    print("| context | positions | next word a love word | next word a hate word | hate vs neither | most common hate words |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, has_love, has_hate in CONTEXTS:
        n, nl, nh, which = counts[(has_love, has_hate)]
        if n == 0:
            continue
        top = ", ".join(f"{w} {k}" for w, k in which.most_common(3))
        print(f"| {name} | {n:,} | {nl / n:.5f} | {nh / n:.5f} | ×{(nh / n) / (neutral[2] / neutral[0]):.2f} | {top} |")


if __name__ == "__main__":
    main()
