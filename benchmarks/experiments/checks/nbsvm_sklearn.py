"""One-off check: linear SVM / logistic regression on binary unigram + bigram features, with and
without naive-Bayes scaling (NBSVM, Wang & Manning 2012), 10-fold CV over the polarity folds, on the
tokens of our `nltk` tokenizer. Needs scikit-learn, which toolkit does not depend on:

    pip install --target /tmp/sk scikit-learn
    PYTHONPATH=/tmp/sk python benchmarks/experiments/checks/nbsvm_sklearn.py   # -> nbsvm_sklearn.log
"""
import numpy as np, sys
from toolkit.training.corpus import load_polarity
from toolkit.serving.tokenizers.nltk_style import NltkStyleTokenizer
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.svm import LinearSVC
from sklearn.linear_model import LogisticRegression
c = load_polarity()
tok = NltkStyleTokenizer(stopwords=False)
docs = [" ".join(tok(t)) for t in c.texts]
y = np.array(c.label_ids); folds = np.array([d.fold for d in c.documents])
def run(kind, ngram=(1,2), C=1.0):
    accs = []
    for f in range(10):
        tr, te = folds != f, folds == f
        cv = CountVectorizer(ngram_range=ngram, binary=True, min_df=1, token_pattern=r"\S+")
        Xtr = cv.fit_transform([docs[i] for i in np.flatnonzero(tr)]); Xte = cv.transform([docs[i] for i in np.flatnonzero(te)])
        if kind.startswith("nb"):
            p = 1 + Xtr[y[tr] == 1].sum(0); q = 1 + Xtr[y[tr] == 0].sum(0)
            r = np.asarray(np.log((p / p.sum()) / (q / q.sum()))).ravel()
            Xtr = Xtr.multiply(r).tocsr(); Xte = Xte.multiply(r).tocsr()
        clf = LinearSVC(C=C, max_iter=5000) if kind.endswith("svm") else LogisticRegression(C=C, max_iter=3000)
        clf.fit(Xtr, y[tr]); accs.append((clf.predict(Xte) == y[te]).mean())
    print(kind, ngram, C, "mean %.2f" % (100*np.mean(accs)), "cv9 %.1f" % (100*accs[9]), [round(100*a,1) for a in accs], flush=True)
for args in [("svm",(1,2),0.1),("nbsvm",(1,2),1.0),("nbsvm",(1,2),0.1),("nbsvm",(1,3),1.0),("nblr",(1,2),10.0),("lr",(1,2),10.0)]:
    run(*args)
