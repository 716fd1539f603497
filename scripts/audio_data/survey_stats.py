#!/usr/bin/env python3
"""Markdown tables from labels.csv (used for SURVEY.md). Usage: python3 survey_stats.py > _stats.md"""
import csv
import os
import statistics
import sys
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
rows = list(csv.DictReader(open(os.path.join(sys.argv[1] if len(sys.argv) > 1 else HERE, "labels.csv"))))


def dur(r):
    try:
        return float(r["duration_s"])
    except ValueError:
        return None


def fmt_min(sec):
    return "%.1f" % (sec / 60.0)


def srs(rs):
    c = Counter(r["sample_rate"] for r in rs)
    return ", ".join("%s×%d" % (("%g k" % (int(k) / 1000)) if k else "?", v) for k, v in sorted(c.items(), key=lambda x: -x[1]))


def fmts(rs):
    c = Counter("%s/%s" % (r["path"].rsplit(".", 1)[-1], r["codec"]) for r in rs)
    return ", ".join("%s×%d" % kv for kv in c.most_common())


by_src = defaultdict(list)
for r in rows:
    by_src[r["source"]].append(r)

print("## Per source\n")
print("| source @ commit | clips | real | fake | excl. | unknown | formats | sample rates (Hz) | total min | median s | on a page |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
tot = Counter()
for src, rs in sorted(by_src.items()):
    ds = [dur(r) for r in rs if dur(r) is not None]
    lab = Counter(r["label"] for r in rs)
    print("| %s | %d | %d | %d | %d | %d | %s | %s | %s | %.2f | %d |" % (
        src.split("@")[0] + "@" + src.split("@")[1][:10], len(rs), lab["real"], lab["fake"], lab["exclude"],
        lab["unknown"], fmts(rs), srs(rs), fmt_min(sum(ds)), statistics.median(ds) if ds else 0,
        sum(1 for r in rs if r["on_page"] == "1")))
    tot.update(lab)

print("\n## Totals by label and kind (speech domain only unless stated)\n")
print("| label | kind | domain | clips | minutes |")
print("|---|---|---|---|---|")
c = defaultdict(list)
for r in rows:
    c[(r["label"], r["kind"], r["domain"])].append(r)
for k, rs in sorted(c.items(), key=lambda x: (x[0][0], -len(x[1]))):
    print("| %s | %s | %s | %d | %s |" % (k + (len(rs), fmt_min(sum(dur(r) or 0 for r in rs)))))

print("\n## Fake systems (speech domain)\n")
print("| system | family | kinds | clips | minutes | sources | sample rates |")
print("|---|---|---|---|---|---|---|")
c = defaultdict(list)
for r in rows:
    if r["label"] == "fake" and r["domain"] == "speech":
        c[r["system"]].append(r)
for k, rs in sorted(c.items(), key=lambda x: -len(x[1])):
    srcs = Counter(r["source"].split("/")[0] for r in rs)
    print("| %s | %s | %s | %d | %s | %s | %s |" % (
        k, rs[0]["family"], ",".join(sorted({r["kind"] for r in rs})), len(rs),
        fmt_min(sum(dur(r) or 0 for r in rs)), ", ".join("%s×%d" % kv for kv in srcs.most_common()), srs(rs)))

print("\n## Real clips by source and system\n")
print("| source | system | kind | clips | minutes | sample rates | speakers |")
print("|---|---|---|---|---|---|---|")
c = defaultdict(list)
for r in rows:
    if r["label"] == "real":
        c[(r["source"].split("@")[0], r["system"], r["kind"])].append(r)
for k, rs in sorted(c.items()):
    spk = {r["speaker"] for r in rs if r["speaker"]}
    print("| %s | %s | %s | %d | %s | %s | %d |" % (k + (len(rs), fmt_min(sum(dur(r) or 0 for r in rs)), srs(rs), len(spk))))

# pairs: pair keys having at least one real and one fake clip
print("\n## Matched pairs (same utterance / row has real and fake)\n")
pk = defaultdict(list)
for r in rows:
    if r["pair"] and r["label"] in ("real", "fake") and r["domain"] == "speech":
        pk[r["pair"]].append(r)
per_src = Counter()
clips = Counter()
for k, rs in pk.items():
    labs = {r["label"] for r in rs}
    if labs == {"real", "fake"}:
        s = rs[0]["source"].split("@")[0]
        per_src[s] += 1
        clips[s] += len(rs)
print("| source | pair groups with real+fake | clips in them |")
print("|---|---|---|")
for s, n in per_src.most_common():
    print("| %s | %d | %d |" % (s, n, clips[s]))

print("\n## Speaker overlap (real speakers also used by fakes, same source)\n")
print("| source | speakers with real and fake clips |")
print("|---|---|")
sp = defaultdict(lambda: defaultdict(set))
for r in rows:
    if r["speaker"] and r["label"] in ("real", "fake"):
        sp[r["source"].split("@")[0]][r["speaker"]].add(r["label"])
for s, d in sorted(sp.items()):
    both = sorted(k for k, v in d.items() if v == {"real", "fake"})
    print("| %s | %d: %s |" % (s, len(both), ", ".join(both[:40]) + (" ..." if len(both) > 40 else "")))

print("\n## Byte-identical copies across rows: %d rows duplicate an earlier row" % sum(1 for r in rows if r["dup_of"]))
