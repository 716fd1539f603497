#!/usr/bin/env python3
"""Proposed leave-systems-out split from labels.csv -> split_proposal.csv (+ counts on stderr).

Held-out (validation-only) generators, by family:
  codec-LM  : vall-e, vall-e-x, megatts, megatts2, mobilespeech, uniaudio, clam-tts, cosyvoice
  pure VC   : autovc, voicemixer, diffvc, dddm-vc, diff-hiervc, hiervst
  distilled diffusion : e1-tts, ardit, flashspeech
Rules
  * only label real/fake, domain speech; exclude/unknown rows get split "drop"
  * a pair group (same utterance / demo row) that contains a held-out system goes wholly to val,
    so the real recordings paired with held-out fakes are in val (its other fakes are tagged
    val_seen_system)
  * byte-identical files follow the first copy's split (no md5 leakage)
  * real-only sources: FSDD speaker 'yweweler' -> val, others train; dc_tts (amateur mic) -> val
    (false-positive control for an unseen channel); tortoise reference voices: 6 speakers -> val
"""
import csv
import os
import sys
from collections import Counter

ROOT = sys.argv[sys.argv.index("--root") + 1] if "--root" in sys.argv else "/work/audio"
HELD_OUT = {"vall-e", "vall-e-x", "megatts", "megatts2", "mobilespeech", "uniaudio", "clam-tts", "cosyvoice",
            "autovc", "voicemixer", "diffvc", "dddm-vc", "diff-hiervc", "hiervst",
            "e1-tts", "ardit", "flashspeech"}
VAL_SPEAKERS = {"yweweler", "philippmatthes", "freeman", "halle", "train_kennard", "weaver", "applejack", "mol"}

rows = list(csv.DictReader(open(os.path.join(ROOT, "labels.csv"))))
val_pairs = {r["pair"] for r in rows if r["pair"] and r["system"] in HELD_OUT}
split_of_md5 = {}
out = []
for r in rows:
    if r["label"] not in ("real", "fake") or r["domain"] != "speech":
        s = "drop"
    elif r["md5"] in split_of_md5:
        s = split_of_md5[r["md5"]]
    elif r["system"] in HELD_OUT:
        s = "val_unseen_system"
    elif r["pair"] and r["pair"] in val_pairs:
        s = "val" if r["label"] == "real" else "val_seen_system"
    elif r["speaker"] in VAL_SPEAKERS and (r["label"] == "real" or "tortoise" in r["source"]):
        s = "val" if r["label"] == "real" else "val_seen_system"
    else:
        s = "train"
    if r["md5"] and r["md5"] not in split_of_md5:
        split_of_md5[r["md5"]] = s
    out.append(dict(path=r["path"], label=r["label"], system=r["system"], family=r["family"], split=s))

with open(os.path.join(ROOT, "split_proposal.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["path", "label", "system", "family", "split"])
    w.writeheader()
    w.writerows(out)
c = Counter((o["split"], o["label"]) for o in out)
for k in sorted(c):
    print("%-20s %-8s %5d" % (k + (c[k],)), file=sys.stderr)
