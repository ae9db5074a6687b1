"""Cold start of the spaCy component, before and after the wave-2 layout, against spaCy alone.

Three kinds of fresh Python process, run round-robin (the machine is shared and
noisy, so they alternate and each is repeated; the minimum of each is kept):

* ``spacy``: ``import spacy``, ``spacy.blank("en")``, score one doc (the floor);
* ``after``: the same plus ``nlp.add_pipe("review_sentiment")`` with this tree;
* ``before``: the same with the tree of the last commit before the layout change
  (a ``git worktree`` of ``BEFORE_COMMIT`` put first on ``PYTHONPATH``; its
  component module is imported by name, as its entry point no longer exists).

Time is measured inside each process from before ``import spacy`` to after the
doc is scored; the counts of ``toolkit.*`` modules loaded show the leak the
layout fixed (the old registry imported every built-in plugin, training side
included, on first use).

    python -m benchmarks.coldstart [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import REPO, WORK_DIR

#: The last commit with the flat layout (toolkit/spacy_component.py).
BEFORE_COMMIT = "84b0a4c"

SCRIPT = r'''
import json, sys, time
t0 = time.perf_counter()
mode = sys.argv[1]
if mode == "before":
    # The installed distribution's spacy_factories entry point names the new module; the old tree's
    # own entry point named toolkit.spacy_component, which is imported instead (same registration).
    import importlib.metadata as md
    _eps = md.entry_points
    def _keep(eps):
        return md.EntryPoints(ep for ep in eps
                              if not (ep.group == "spacy_factories" and ep.value.startswith("toolkit.")))
    def _without_new(**kw):
        found = _eps(**kw)
        if isinstance(found, dict):  # Python 3.11 without arguments: {group: EntryPoints}
            return md.SelectableGroups({group: _keep(eps) for group, eps in found.items()})
        return _keep(found)
    md.entry_points = _without_new
import spacy
if mode == "before":
    import toolkit.spacy_component  # noqa: F401  (registers the old factory)
nlp = spacy.blank("en")
if mode != "spacy":
    nlp.add_pipe("review_sentiment")
doc = nlp("A tense, beautifully acted film; I loved every minute of it.")
seconds = time.perf_counter() - t0
mods = sorted(m for m in sys.modules if m == "toolkit" or m.startswith("toolkit."))
print(json.dumps({"seconds": seconds, "cats": doc.cats, "toolkit_modules": len(mods),
                  "training_modules": [m for m in mods if m.startswith(("toolkit.training", "toolkit.architectures",
                                                                          "toolkit.embeddings", "toolkit.train",
                                                                          "toolkit.export"))]}))
'''


def _before_tree() -> Path:
    tree = WORK_DIR / f"layout-before-{BEFORE_COMMIT}"
    if not (tree / "toolkit" / "spacy_component.py").is_file():
        subprocess.run(["git", "worktree", "prune"], cwd=REPO, check=True)
        if tree.exists():
            subprocess.run(["rm", "-rf", str(tree)], check=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), BEFORE_COMMIT], cwd=REPO, check=True,
                       capture_output=True)
    return tree


def _run(mode: str, script: Path, before: Path) -> dict[str, Any]:
    import os

    env = dict(os.environ, TOOLKIT_LOAD_PLUGINS="")
    if mode == "before":
        env["PYTHONPATH"] = str(before)
    out = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, env=env, cwd=WORK_DIR,
                         check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_start_layout(repeat: int = 5) -> dict[str, Any]:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    before = _before_tree()
    script = WORK_DIR / "cold_start_layout.py"
    script.write_text(SCRIPT)
    runs: dict[str, list[dict[str, Any]]] = {"spacy": [], "before": [], "after": []}
    for _ in range(repeat):
        for mode in runs:
            runs[mode].append(_run(mode, script, before))
    best = {mode: min(r["seconds"] for r in rows) for mode, rows in runs.items()}
    same = max(abs(runs["before"][0]["cats"][k] - runs["after"][0]["cats"][k]) for k in runs["after"][0]["cats"])
    same_label = (max(runs["before"][0]["cats"], key=runs["before"][0]["cats"].get)
                  == max(runs["after"][0]["cats"], key=runs["after"][0]["cats"].get))
    return {
        "before_commit": BEFORE_COMMIT,
        "repeat": repeat,
        "seconds": best,
        "ratio_to_spacy": {"before": best["before"] / best["spacy"], "after": best["after"] / best["spacy"]},
        "toolkit_modules": {mode: rows[0]["toolkit_modules"] for mode, rows in runs.items()},
        "training_modules": {mode: rows[0]["training_modules"] for mode, rows in runs.items()},
        "max_abs_diff_before_after": same,
        "same_label_before_after": same_label,
        "runs": runs,
    }


def markdown(res: dict[str, Any]) -> list[str]:
    s, r = res["seconds"], res["ratio_to_spacy"]
    return [
        "| process | seconds to first doc (min of %d) | x spacy.blank + 1 doc | toolkit modules | training-side modules |"
        % res["repeat"],
        "|---|---|---|---|---|",
        f"| spacy.blank('en') + 1 doc | {s['spacy']:.3f} | 1.00 | {res['toolkit_modules']['spacy']} | 0 |",
        f"| + review_sentiment, before the layout ({res['before_commit']}) | {s['before']:.3f} | {r['before']:.2f} | "
        f"{res['toolkit_modules']['before']} | {len(res['training_modules']['before'])} |",
        f"| + review_sentiment, now | {s['after']:.3f} | {r['after']:.2f} | {res['toolkit_modules']['after']} | "
        f"{len(res['training_modules']['after'])} |",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    res = cold_start_layout(args.repeat)
    print("\n".join(markdown(res)))
    if args.out:
        args.out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
