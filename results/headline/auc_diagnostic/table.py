"""Markdown tables of the held-out discriminator metrics of diagnostic runs: NAME=metrics.csv ..."""
import csv
import sys

cols = [("AUC", "eval/disc_auc"), ("accuracy", "eval/disc_acc"), ("recall", "eval/disc_recall"),
        ("replaced fraction", "eval/replaced_frac"), ("generator accuracy", "eval/gen_acc"),
        ("generator loss", "eval/gen_loss")]
for arg in sys.argv[1:]:
    name, path = arg.split("=", 1)
    rows = [r for r in csv.DictReader(open(path)) if r.get("eval/disc_auc")]
    print(f"{name}:\n")
    print("| step | " + " | ".join(c for c, _ in cols) + " |")
    print("|" + "---:|" * (1 + len(cols)))
    for r in rows:
        print(f"| {r['step']} | " + " | ".join(f"{float(r[k]):.4f}" for _, k in cols) + " |")
    print()
