#!/usr/bin/env python3
"""Summary of benches/foolbox/run.sh's jsonl: per model and attack, images/s of each side
(median over pairs), the median of the per-pair ratios axdnn/Foolbox, their range and the number
of pairs, and whether both sides found the same number of adversarial examples (they must for the
deterministic attacks; PGD's random starts come from different generators)."""

import json
import statistics
import sys
from collections import defaultdict


def main(path):
    runs = defaultdict(dict)  # (model, attack) -> pair -> side -> row
    order = []
    with open(path) as fh:
        for line in fh:
            r = json.loads(line)
            key = (r["model"], r["attack"])
            if key not in runs:
                order.append(key)
            runs[key].setdefault(r["pair"], {})[r["side"]] = r
    print(f"{'model':<16} {'attack':<36} {'axdnn img/s':>11} {'foolbox img/s':>13} {'ratio':>6} {'range':>13} {'pairs':>5}  successes a/f")
    for key in order:
        pairs = [p for p in runs[key].values() if "axdnn" in p and "foolbox" in p]
        if not pairs:
            continue
        a = [p["axdnn"]["images_per_s"] for p in pairs]
        f = [p["foolbox"]["images_per_s"] for p in pairs]
        ratios = [x / y for x, y in zip(a, f)]
        sa = pairs[0]["axdnn"]["successes"]
        sf = pairs[0]["foolbox"]["successes"]
        print(f"{key[0]:<16} {key[1]:<36} {statistics.median(a):>11.1f} {statistics.median(f):>13.1f} "
              f"{statistics.median(ratios):>6.2f} {min(ratios):>6.2f}-{max(ratios):<6.2f} {len(pairs):>5}  {sa}/{sf}")


if __name__ == "__main__":
    main(sys.argv[1])
