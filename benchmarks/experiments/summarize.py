"""Print benchmarks/experiments/results.jsonl as a table: one line per run, then mean +- std per tag."""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

path = Path(__file__).with_name("results.jsonl")
rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
only = sys.argv[1] if len(sys.argv) > 1 else ""
by_tag = defaultdict(list)
for r in rows:
    if only not in r["tag"]:
        continue
    by_tag[r["tag"]].append(r)
    trace = r.get("test_accuracy_by_epoch")
    print(f'{r["tag"][:52]:52s} s{r["seed"]} acc {r["accuracy"]:.3f} best {r["best_epoch"]:2d}/{r["epochs_run"]:2d} '
          f't {r["train_seconds"]:6.1f}s' + (f'  test/epoch {" ".join(f"{v:.3f}" for v in trace)}' if trace else ""))
print()
for tag, rs in by_tag.items():
    accs = [r["accuracy"] for r in rs]
    sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
    t = statistics.mean(r["train_seconds"] for r in rs)
    print(f"{tag[:52]:52s} n={len(accs)} mean {statistics.mean(accs):.4f} +- {sd:.4f}  seeds {[r['seed'] for r in rs]}  "
          f"train {t:.0f}s")
