"""One-off check: the classic tutorial CNN in plain Keras (numpy arrays, model.fit), outside
toolkit's training path, to tell the stack from our pipeline. Data prepared with toolkit's
tokenizer and vocabulary.

    python benchmarks/experiments/checks/tutorial_cnn_plain_keras.py SEED sigmoid|softmax drop|keep

``drop`` removes out-of-vocabulary words (as the tutorial does), ``keep`` maps them to <unk>.
Results: tutorial_cnn_plain_keras.log (one JSON line per run).
"""
import sys, time, json
import numpy as np
from toolkit.training.corpus import load_polarity, train_test_split
from toolkit.serving.tokenizers.nltk_style import NltkStyleTokenizer
from toolkit.core.vocab import Vocab
from toolkit.training.vocab_builder import build_vocab
from toolkit.training.loop import set_seed

seed = int(sys.argv[1]); out = sys.argv[2]; drop_oov = sys.argv[3] == "drop"
corpus = load_polarity()
train, test = train_test_split(corpus)
tok = NltkStyleTokenizer(stopwords=True)
tr_tokens = [tok(t) for t in train.texts]; te_tokens = [tok(t) for t in test.texts]
vocab = build_vocab(tr_tokens, min_count=2, ngrams=1)
def enc(docs):
    ids = vocab.encode_many(docs)
    return [[i for i in x if i != 1] for x in ids] if drop_oov else ids
tr_ids, te_ids = enc(tr_tokens), enc(te_tokens)
L = max(len(x) for x in tr_ids)
def pad(ids):
    a = np.zeros((len(ids), L), np.int32)
    for r, x in enumerate(ids):
        x = x[-L:]; a[r, :len(x)] = x
    return a
Xtr, Xte = pad(tr_ids), pad(te_ids)
ytr, yte = np.array(train.label_ids), np.array(test.label_ids)
set_seed(seed)
import keras
from keras import layers
m = keras.Sequential([keras.Input((L,), dtype="int32"), layers.Embedding(len(vocab), 100),
    layers.Conv1D(32, 8, activation="relu"), layers.MaxPooling1D(2), layers.Flatten(),
    layers.Dense(10, activation="relu"),
    layers.Dense(1, activation="sigmoid") if out == "sigmoid" else layers.Dense(2, activation="softmax")])
m.compile("adam", "binary_crossentropy" if out == "sigmoid" else "sparse_categorical_crossentropy", metrics=["accuracy"])
t = time.time()
h = m.fit(Xtr, ytr, epochs=10, batch_size=32, verbose=0)
p = m.predict(Xte, verbose=0)
pred = (p[:, 0] > 0.5).astype(int) if out == "sigmoid" else p.argmax(1)
acc = float((pred == yte).mean())
print(json.dumps({"seed": seed, "out": out, "drop": drop_oov, "L": L, "vocab": len(vocab), "acc": acc,
                  "loss": [round(x, 4) for x in h.history["loss"]], "s": round(time.time() - t)}))
