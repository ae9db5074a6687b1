"""One-off check, before `bag_weights` existed: the default cnn with its bag branch scaled by
naive-Bayes weights (mode ``abs``: |log-count ratio|; ``none``: unscaled), trained through
toolkit.training.loop.fit on chosen polarity folds (seed 0).

    python benchmarks/experiments/checks/nb_weights_folds.py abs|none 0,2,8

Results: nb_weights_folds.log. The built-in option is now `cnn` `bag_weights="nb"`.
"""
import sys, json, time, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
from toolkit.core import registry
from toolkit.training import loop as T
from toolkit.training.evaluation import evaluate_fit
from toolkit.training.config import Config
from toolkit.training.corpus import load_polarity, k_folds
from toolkit.training.architectures.cnn import CNN
from toolkit.training.architectures import _common as c
from toolkit.core.hookspecs import hookimpl

mode = sys.argv[1]; folds_wanted = [int(x) for x in sys.argv[2].split(",")]; alpha = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
STATE = {}
orig_prepare = T.prepare
def prepare(config, train, progress=True):
    prep = orig_prepare(config, train, progress)
    ids = prep.vocab.encode_many(prep.train_tokens)
    V = len(prep.vocab); y = np.asarray(prep.train_labels)
    p = np.full(V, alpha); q = np.full(V, alpha)
    for doc, lab in zip(ids, y):
        u = np.unique(np.asarray(doc, dtype=np.int64))
        (p if lab == 1 else q)[u] += 1
    r = np.log((p / p.sum()) / (q / q.sum())); r[0] = 0.0
    STATE["r"] = r.astype(np.float32)
    return prep
T.prepare = prepare

class NBCNN(CNN):
    name = "nb-cnn"
    needs_token_weights = False  # this script computes and applies its own weights
    def build(self, vocab_size, dim, weights=None, trainable=True, max_len=None, labels=("NEGATIVE", "POSITIVE")):
        import keras
        from keras import layers, ops
        r = STATE["r"]
        scale = np.abs(r) if mode == "abs" else r
        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        emb = c.embedding_layer(keras, vocab_size, dim, trainable)
        x = emb(ids)
        s_layer = layers.Embedding(vocab_size, 1, trainable=False, name="nb_scale")
        s = s_layer(ids)
        mask = c.token_mask(ops, ids)
        feats = []
        for k in self.kernel_sizes:
            h = layers.Conv1D(self.filters, k, activation=self.activation, name=f"conv_{k}")(ops.stop_gradient(x))
            h = c.masked_pool(ops, h, c.window_mask(mask, k), self.pooling, nonnegative=True)[0]
            feats.append(layers.Dropout(self.dropout)(h))
        xb = x * s if mode != "none" else x
        feats.extend(c.masked_pool(ops, xb, c.window_mask(mask, 1), "avg"))
        h = layers.Concatenate()(feats)
        out = c.output(keras, h, list(labels))
        m = keras.Model(ids, out)
        s_layer.set_weights([scale[:, None]])
        return m

class Plug:
    @hookimpl
    def register_architectures(self, register):
        register("nb-cnn", NBCNN)
registry.register_plugin(Plug(), "nbexp")
cfg = Config().with_overrides({"architecture.name": "nb-cnn"})
corpus = load_polarity()
folds = k_folds(corpus, 10, seed=cfg.data.split_seed)
for i in folds_wanted:
    train, test = folds[i]
    t = time.time()
    res = T.fit(cfg, train, progress=False)
    m = evaluate_fit(res, test).metrics
    print(json.dumps({"mode": mode, "alpha": alpha, "fold": i, "acc": m["accuracy"], "s": round(time.time() - t)}), flush=True)
