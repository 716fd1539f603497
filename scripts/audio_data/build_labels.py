#!/usr/bin/env python3
"""Regenerate /work/audio/labels.csv from the extracted demo-page snapshots.

Layout expected (made by extract.sh from `fetch` snapshots):
    /work/audio/<owner>+<name>/_commit.txt      commit of the snapshot
    /work/audio/<owner>+<name>/<repo paths>     audio files and the demo pages (html / md)

Labelling = per-repository path rules (folder / file naming conventions), checked
against the demo page: every <audio> reference on the pages is mapped to its table
column / row / caption (pagemap.py) and the caption is classified independently as
real / fake; disagreements are printed (and written to _label_conflicts.csv).

Columns of labels.csv
    path          relative to /work/audio
    source        owner/name@commit
    label         real | fake | exclude (not speech: tones, noise, music) | unknown
    system        generator (fake) or ground_truth / prompt_reference ... (real)
    family        coarse generator family, for leave-systems-out splits
    kind          bonafide | bonafide_noisy | bonafide_processed | tts | vc | vocoder_resynth |
                  codec_resynth | edit | enhance | super_resolution | singing | ...
    domain        speech | singing | binaural | music | tone | noise
    dataset       corpus the text / speaker comes from, when known
    speaker       speaker id (target speaker for VC), when known
    utt           utterance id, when known
    pair          key shared by clips of the same utterance / row (real vs fake pairs)
    on_page       1 if some page of the repo plays the file
    page_caption  header / row / cell text of the (first) page reference
    duration_s, sample_rate, channels, codec   probed (WAV header parse; ffprobe for others)
    md5, dup_of   content hash; dup_of = first row with byte-identical content (leakage check)
    md5, dup_of   content hash; dup_of = first row with byte-identical content (leakage check)
    note

Usage:  python3 build_labels.py [--root /work/audio] [--no-probe] [--ffprobe-max N]
Stdlib only (+ ffprobe on PATH for non-WAV files). Probe results are cached in
<root>/_probe_cache.json.
"""
import argparse
import csv
import hashlib
import json
import os
import posixpath
import re
import struct
import subprocess
import sys
import urllib.parse
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pagemap import map_page  # noqa: E402

AUDIO_EXT = (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".opus")
PAGE_EXT = (".html", ".htm", ".md")

FIELDS = ["path", "source", "label", "system", "family", "kind", "domain", "dataset", "speaker",
          "utt", "pair", "on_page", "page_caption", "duration_s", "sample_rate", "channels",
          "codec", "md5", "dup_of", "note"]


# --------------------------------------------------------------------------------------
# helpers

def R(system="ground_truth", kind="bonafide", **kw):
    d = dict(label="real", system=system, family="bonafide", kind=kind, domain="speech")
    d.update(kw)
    return d


def F(system, kind="tts", family=None, **kw):
    d = dict(label="fake", system=system, family=family or FAMILY.get(system, system), kind=kind,
             domain="speech")
    d.update(kw)
    return d


def X(system, domain, **kw):
    d = dict(label="exclude", system=system, family="-", kind="-", domain=domain)
    d.update(kw)
    return d


def U(note, **kw):
    d = dict(label="unknown", system="unknown", family="-", kind="-", domain="speech", note=note)
    d.update(kw)
    return d


# coarse families used for leave-systems-out splits
FAMILY = {
    "vall-e": "codec-lm", "vall-e-x": "codec-lm", "uniaudio": "codec-lm", "clam-tts": "codec-lm",
    "mobilespeech": "codec-lm", "megatts": "codec-lm", "megatts2": "codec-lm", "cosyvoice": "codec-lm",
    "tortoise": "tortoise",
    "naturalspeech2": "latent-diffusion", "naturalspeech3": "latent-diffusion",
    "voicebox": "flow-matching", "e1-tts": "distilled-diffusion", "ardit": "distilled-diffusion",
    "ditto-tts": "latent-diffusion", "flashspeech": "distilled-diffusion",
    "styletts": "styletts", "styletts2": "styletts",
    "vits": "vits", "jets": "vits", "yourtts": "vits", "xtts": "gpt-xtts", "naturalspeech": "vits",
    "hierspeech": "hierspeech", "hierspeechpp": "hierspeech", "hiervst": "hierspeech",
    "diff-hiervc": "diffusion-vc", "dddm-vc": "diffusion-vc", "diffvc": "diffusion-vc",
    "autovc": "autoencoder-vc", "voicemixer": "autoencoder-vc",
    "tacotron2": "tacotron", "transformer_tts": "transformer-tts", "merlin": "parametric",
    "fastspeech": "fastspeech", "fastspeech2": "fastspeech", "fastspeech2s": "fastspeech",
    "lightspeech": "fastspeech", "adaspeech": "fastspeech", "adaspeech2": "fastspeech",
    "adaspeech3": "fastspeech", "adaspeech4": "fastspeech", "multispeech": "transformer-tts",
    "seminas": "transformer-tts", "speech-t": "transformer-tts", "lrspeech": "transformer-tts",
    "almost_unsup_tts": "transformer-tts", "denoispeech": "fastspeech", "prompttts": "fastspeech",
    "prompttts2": "fastspeech", "instructtts": "diffusion-tts", "sp-facevc": "autoencoder-vc",
    "priorgrad": "diffusion-tts", "gradtts": "diffusion-tts", "glowtts": "flow-tts",
    "fastdiff": "diffusion-tts", "uwspeech": "s2st", "fastspeech_dvector": "fastspeech",
    "mel_reconstruct": "vocoder", "token_reconstruct": "vocoder",
}


def stem(p):
    return posixpath.splitext(posixpath.basename(p))[0]


# --------------------------------------------------------------------------------------
# page references

def resolve_src(repo, page, src):
    """Map an <audio src> to a path inside the repository, or None if external."""
    s = urllib.parse.unquote(src.split("#")[0].split("?")[0]).strip()
    owner, name = repo.split("/")
    m = re.match(r"https?://github\.com/%s/%s/(?:raw|blob)/[^/]+/(.+)$" % (re.escape(owner), re.escape(name)), s, re.I)
    if m:
        return m.group(1)
    m = re.match(r"https?://raw\.githubusercontent\.com/%s/%s/[^/]+/(.+)$" % (re.escape(owner), re.escape(name)), s, re.I)
    if m:
        return m.group(1)
    m = re.match(r"https?://%s\.github\.io/(.+)$" % re.escape(owner), s, re.I)
    if m and name.lower() == (owner + ".github.io").lower():
        return m.group(1)
    if re.match(r"^[a-z]+:", s):
        return None
    if s.startswith("/"):
        return posixpath.normpath(s.lstrip("/"))
    return posixpath.normpath(posixpath.join(posixpath.dirname(page), s))


def page_refs(repo_dir, repo, audio_set):
    refs = defaultdict(list)
    external = 0
    for dp, dn, fn in os.walk(repo_dir):
        for f in fn:
            if not f.lower().endswith(PAGE_EXT):
                continue
            full = os.path.join(dp, f)
            page = os.path.relpath(full, repo_dir).replace(os.sep, "/")
            if re.match(r"(categories|tags)/", page):
                continue
            try:
                text = open(full, encoding="utf-8", errors="replace").read()
            except OSError:
                continue
            for r in map_page(text):
                p = resolve_src(repo, page, r["src"])
                if p is None:
                    external += 1
                    continue
                r["page"] = page
                refs[p].append(r)
    return refs, external


def caption_of(r):
    parts = []
    for k in ("header", "rowlabel", "cell_text", "group"):
        v = (r.get(k) or "").strip()
        if v:
            parts.append("%s=%s" % (k[:4], v[:60]))
    return "%s#t%s: %s" % (r["page"], r["table"], "; ".join(parts))


REAL_CAPTION = re.compile(
    r"^(gt|ground[- ]?truth|recording( \(\d+khz\))?|real|prompt|reference|source( speaker)?|target( speaker)?|"
    r"original prompt\.?|clean gt|noisy gt|gt \(\s*p\d+\s*\)|gt \(16 khz\)|prompt \(.*\)|prompt \d.*|"
    r"high-quality speaker|low-quality speaker \d|other prompts|duration prompt|prosody prompt|timbre prompt|reference clip|data crawling|new prompt.*|original prompt\.?|\d\.\dx speed\.)$", re.I)
RESYNTH_CAPTION = re.compile(r"(gt ?mel|gt ?\(|gt\+vocoder|copy synthesis|reconstruct|codec|kbps|gt \(pwg\)|gt\(griffin|gt\(waveglow|audiosr|speechsr \(ours\))", re.I)


def caption_class(r):
    """Independent real/fake reading of the page caption(s); None if not decisive."""
    def cls(c):
        if RESYNTH_CAPTION.search(c) and not re.match(r"^gt \(\s*p\d+|^gt \(16 khz\)$", c, re.I):
            return "fake"
        if REAL_CAPTION.match(c):
            return "real"
        return None
    cell = (r.get("cell_text") or "").strip()
    if cell and len(cell) <= 60 and not re.match(r"^(lyrics|sentence|sample|example|case)\b", cell, re.I):
        return cls(cell) or "fake"
    cands = [(r.get(k) or "").strip() for k in ("header", "rowlabel")]
    cands = [c for c in cands if c and len(c) <= 60 and not re.match(r"^(sentence|sample|example|case)\b", c, re.I)]
    for c in cands:
        v = cls(c)
        if v:
            return v
    return "fake" if cands else None


# --------------------------------------------------------------------------------------
# per-repository rules.  Each returns a dict with at least label/system/kind; may add
# dataset/speaker/utt/pair/note.

LIBRI_ID = re.compile(r"^(\d+)[-_](\d+)[-_](\d+)(?:_(\d+))?$")
VCTK_ID = re.compile(r"^(p\d{3})_(\d{3})$")


def speaker_from_stem(s):
    m = LIBRI_ID.match(s)
    if m:
        return m.group(1)
    m = VCTK_ID.match(s)
    if m:
        return m.group(1)
    if re.match(r"^LJ\d{3}-\d{4}$", s):
        return "LJ"
    return ""


TORTOISE_SPK = {
    "atkins": "train_atkins", "daniel_craig": "daniel", "craig": "daniel", "dotrice": "train_dotrice",
    "emma_stone": "emma", "halle_barry": "halle", "kennard": "train_kennard", "morgan_freeman": "freeman",
    "patrick_stewart": "pat", "robert_deniro": "deniro", "william_shatner": "william",
    "grace_train": "train_grace", "henry_cavill": "henry_cavill", "angelina": "angelina",
}


def rule_tortoise(p):
    parts = p.split("/")
    if p.startswith("tortoise/voices/"):
        spk = parts[2]
        note = {"applejack": "cartoon character voice (acted)", "rainbow": "cartoon character voice (acted)",
                "geralt": "video-game character voice (acted)", "myself": "the repository author",
                "snakes": "unclear source"}.get(spk, "")
        if spk.startswith("train_"):
            note = "clip from Tortoise training data (audiobook-style)"
        return R("prompt_reference", speaker=spk, dataset="tortoise-voices", pair="", note=note)
    if p.startswith("examples/tacotron_comparison/"):
        n, sysname = stem(p).split("-", 1)
        if sysname == "tacotron2":
            return F("tacotron2", speaker="lj", dataset="LJSpeech", utt="tc" + n, pair="tortoise:lj:tc" + n,
                     note="Tacotron2 + WaveGlow (page column)")
        return F("tortoise", speaker="lj", dataset="LJSpeech", utt="tc" + n, pair="tortoise:lj:tc" + n)
    if p.startswith("examples/finetuned/lj/"):
        n = stem(p)
        return F("tortoise", speaker="lj", dataset="LJSpeech", utt="tc" + n, pair="tortoise:lj:tc" + n,
                 note="Tortoise fine-tuned on LJSpeech")
    if p.startswith("examples/naturalspeech_comparison/"):
        utt = parts[2]
        if stem(p) == "naturalspeech":
            return F("naturalspeech", speaker="lj", dataset="LJSpeech", utt=utt, pair="tortoise:lj:ns:" + utt,
                     note="NaturalSpeech (v1), column 'Natural Voice'")
        return F("tortoise", speaker="lj", dataset="LJSpeech", utt=utt, pair="tortoise:lj:ns:" + utt,
                 note="Tortoise fine-tuned on LJSpeech")
    if p.startswith("examples/various/"):
        spk = TORTOISE_SPK.get(stem(p), stem(p))
        return F("tortoise", speaker=spk, utt=parts[2], pair="tortoise:various:" + parts[2])
    if p.startswith("examples/favorites/"):
        s = stem(p)
        spk = ""
        for k in sorted(TORTOISE_SPK, key=len, reverse=True):
            if s.startswith(k + "_"):
                spk = TORTOISE_SPK[k]
                break
        if not spk:
            spk = s.split("_")[0]
        return F("tortoise", speaker=spk, utt=s, pair="")
    if p.startswith("examples/riding_hood/") or p == "examples/favorite_riding_hood.mp3":
        spk = TORTOISE_SPK.get(stem(p), stem(p)) if "riding_hood/" in p else ""
        return F("tortoise", speaker=spk, utt="riding_hood", pair="tortoise:riding_hood")
    if p.startswith("examples/prompting/"):
        return F("tortoise", utt="prompting_" + stem(p), note="emotion prompting")
    return U("no rule")


MOBILE_SYS = {"gtexample": R(), "gtcodec": F("gt_codec", kind="codec_resynth", family="codec"),
              "yourtts": F("yourtts"), "valle": F("vall-e"), "megatts": F("megatts"),
              "mobilespeech": F("mobilespeech")}


def rule_mobilespeech(p):
    m = re.match(r"assets/audios/waves/(\d+)/(\w+)\.wav$", p)
    if m:
        d = dict(MOBILE_SYS.get(m.group(2)) or U("unknown column"))
        d.update(dataset="LibriSpeech test-clean", utt="ls" + m.group(1), pair="mobilespeech:" + m.group(1))
        return d
    m = re.match(r"assets/audios/(good_)?spk_(\d+)_(\d+)(_infer)?\.wav$", p)
    if m:
        return F("mobilespeech", dataset="Chinese (zh)", speaker="spk" + m.group(2), utt=m.group(3),
                 note="Chinese sample; all page rows are MobileSpeech")
    return U("no rule")


STYLE_SYS = {"gt": None, "ref": None, "jets": "jets", "naturalspeech": "naturalspeech", "styletts": "styletts",
             "styletts2": "styletts2", "vits": "vits", "naturalspeech2": "naturalspeech2", "valle": "vall-e",
             "yourtts": "yourtts", "fastdiff": "fastdiff"}


def rule_styletts2(p):
    parts = p.split("/")
    if parts[0] != "wavs":
        return U("no rule")
    s = stem(p)
    spk = speaker_from_stem(s)
    if parts[1] in ("LJSpeech",):
        ds, sub, sysdir = "LJSpeech", parts[2], parts[3]
        pair = "styletts2:LJ:%s:%s" % (sub, s)
        if sysdir == "GT":
            return R(dataset=ds, speaker="LJ", utt=s, pair=pair)
        return F(STYLE_SYS[sysdir.lower()], dataset=ds, speaker="LJ", utt=s, pair=pair)
    if parts[1] in ("LibriTTS", "VCTK"):
        ds, sysdir = parts[1], parts[2]
        pair = "styletts2:%s:%s" % (ds, s)
        if sysdir == "GT":
            return R(dataset=ds, speaker=spk, utt=s, pair=pair)
        if sysdir == "Ref":
            return R("prompt_reference", dataset=ds, speaker=spk, utt=s, pair=pair,
                     note="reference (prompt) utterance")
        return F(STYLE_SYS[sysdir.lower()], dataset=ds, speaker=spk, utt=s, pair=pair)
    if parts[1] == "Long":
        return F(STYLE_SYS[s.lower()], dataset="LJSpeech", speaker="LJ", utt="long", pair="styletts2:long") \
            if s != "GT" else R(dataset="LJSpeech", speaker="LJ", utt="long", pair="styletts2:long",
                                note="long-form GT; check it is a recording")
    if parts[1] == "abstract":
        return F(STYLE_SYS[s.lower()], dataset="LJSpeech", speaker="LJ", utt="abstract", pair="styletts2:abstract")
    if parts[1] == "Emotion":
        return F("styletts2", dataset=parts[2], utt=s, note="emotional text, " +
                 ("LJSpeech model" if parts[2] == "LJSpeech" else "unseen LibriTTS speaker"))
    if parts[1] == "Variation":
        sysname = {"LibriTTS": "styletts2"}.get(parts[2], STYLE_SYS.get(parts[2].lower(), parts[2].lower()))
        return F(sysname, utt=s, pair="styletts2:variation", note="same text, repeated sampling")
    if parts[1] == "Ablation":
        return F("styletts2", dataset="LJSpeech", speaker="LJ", utt=s, pair="styletts2:ablation:" + s,
                 note="ablation: " + parts[2])
    return U("no rule")


HIER_SYS = {"YourTTS_test-clean": "yourtts", "coquitts_test_clean": "xtts", "hierspeech": "hierspeech",
            "hierspeechpp_eng_kor": "hierspeechpp", "hierspeechpp_lt460": "hierspeechpp",
            "hierspeechpp_lt960": "hierspeechpp", "valle_clean": "vall-e-x",
            "hierspeech_for_naturalspeech": "hierspeechpp", "hierspeech_for_naturalspeech_spr": "hierspeechpp",
            "naturalspeech2_naturalspeech2": "naturalspeech2", "naturalspeech2_valle": "vall-e",
            "styletts2": "styletts2", "hierspeech_for_megatts": "hierspeechpp", "megatts": "megatts",
            "AutoVC": "autovc", "DiffVC": "diffvc", "HierVST": "hiervst", "VoiceMixer": "voicemixer",
            "YourTTS": "yourtts", "dddmvc": "dddm-vc", "diffhiervc": "diff-hiervc",
            "expresso_tts_hier": "hierspeechpp"}


def rule_hierspeech(p):
    parts = p.split("/")
    s = stem(p)
    if parts[1] == "GT_VCTK":
        return R(dataset="VCTK", speaker=s.split("_")[0], utt=s, pair="hier:vctk:" + s)
    if parts[1] == "5_audible":
        return X("test_tone", "tone", note="hearing-range test tone")
    sec, sysdir = parts[1], parts[2] if len(parts) > 3 else ""
    if sec == "4_zeroshot_vc":
        m = re.match(r"(p\d+)_(\d+)_to_(p\d+)_(\d+)$", s)
        src_spk, tgt_spk = (m.group(1), m.group(3)) if m else ("", "")
        common = dict(dataset="VCTK", speaker=tgt_spk, utt=s, pair="hier:vc:" + s)
        if sysdir == "GT_target_same_uttr":
            return R(note="not on page; folder name says target speaker's own recording of the same text "
                          "(inferred)", **common)
        if sysdir == "noise_vctk":
            return U("not on page; VCTK conversion pair naming in a 'noise_vctk' folder", **common)
        variant = sysdir if sysdir.startswith("hierspeechpp") else ""
        return F(HIER_SYS[sysdir], kind="vc", note=variant, **common)
    if sec == "1_zeroshot_tts":
        common = dict(dataset="LibriTTS test-clean", speaker=speaker_from_stem(s), utt=s, pair="hier:tts:" + s)
        if sysdir == "libritts_test_clean_full":
            return R(**common)
        return F(HIER_SYS[sysdir], note=sysdir if sysdir.startswith("hierspeechpp") else "", **common)
    if sec == "2_Table11":
        common = dict(dataset="LibriSpeech (NaturalSpeech 2 demo prompts)", utt=s, pair="hier:ns2:" + s)
        if sysdir == "naturalspeech2_gt":
            return R(**common)
        if sysdir == "naturalspeech2_reference":
            return R("prompt_reference", **common)
        return F(HIER_SYS[sysdir], note="" if sysdir != "hierspeech_for_naturalspeech" else "not on page", **common)
    if sec == "3_mega":
        common = dict(utt=s, pair="hier:mega:" + s)
        if sysdir == "prompt":
            return R("prompt_reference", note="cartoon-character prompt (SpongeBob, Peter Griffin, Rick, Morty)",
                     dataset="cartoon clips", **common)
        return F(HIER_SYS[sysdir], **common)
    if sec == "0_zeroshot_tts":
        common = dict(dataset="Expresso" if s != "steve-jobs-2005" else "Steve Jobs 2005 speech",
                      utt=s, pair="hier:expresso:" + s)
        if sysdir == "expresso_tts":
            return R("prompt_reference", note="expressive prompt (whisper, laughing, ...)", **common)
        return F("hierspeechpp", **common)
    if sec == "6_sr":
        common = dict(dataset="LibriTTS", speaker=speaker_from_stem(s), utt=s, pair="hier:sr:" + s)
        if sysdir in ("gt_16k", "gt_24k"):
            return R(note=sysdir, **common)
        if sysdir == "gt_asr":
            return F("audiosr", kind="super_resolution", family="super-resolution", note="AudioSR on 16 kHz GT", **common)
        if sysdir == "gt_ssr":
            return F("speechsr", kind="super_resolution", family="super-resolution", note="SpeechSR on 16 kHz GT", **common)
        return F("hierspeechpp", note={"syn_asr": "+AudioSR", "syn_ssr": "+SpeechSR", "syn_voc": "16 kHz"}[sysdir], **common)
    return U("no rule")


E1_SYS = {"ardit_dmd_b1": "ardit", "clamtts": "clam-tts", "ditto": "ditto-tts", "e1tts": "e1-tts",
          "flash_speech": "flashspeech", "megatts2": "megatts2", "ns2": "naturalspeech2",
          "ns3": "naturalspeech3", "uniaudio": "uniaudio", "valle": "vall-e", "voicebox": "voicebox",
          "cosyvoice": "cosyvoice", "styletts2": "styletts2"}


def rule_e1tts(p):
    parts = p.split("/")
    if parts[0] != "samples" or len(parts) != 4:
        return U("no rule")
    sec, sysdir, s = parts[1], parts[2], stem(p)
    ds = {"celeb": "celebrity / character clips", "demo_compare": "LibriSpeech test-clean (baselines' demo cases)",
          "prompt": "LibriTTS test-clean", "robust": "LibriTTS prompts, hard texts", "inpaint": "LibriTTS"}[sec]
    common = dict(dataset=ds, utt=s, pair="e1:%s:%s" % (sec, s), speaker=speaker_from_stem(s) or
                  (s if sec == "celeb" else ""))
    if sysdir in ("gt", "ground_truth"):
        return R(**common)
    if sysdir == "prompt":
        return R("prompt_reference", note="celebrity / character clip from the web" if sec == "celeb" else "",
                 **common)
    if sysdir == "mel_reconstruct":
        return F("mel_reconstruct", kind="vocoder_resynth", family="vocoder", note="GT mel through the vocoder", **common)
    if sysdir == "token_reconstruct_dmd":
        return F("token_reconstruct", kind="codec_resynth", family="vocoder",
                 note="GT tokens decoded by the DMD decoder", **common)
    if sec == "inpaint":
        return F(E1_SYS[sysdir], kind="edit", note="speech inpainting: only a span is generated", **common)
    return F(E1_SYS[sysdir], **common)


def rule_fsdd(p):
    m = re.match(r"recordings/(\d)_([a-z]+)_(\d+)\.wav$", p)
    if not m:
        return U("no rule")
    return R(dataset="FSDD", speaker=m.group(2), utt="digit%s_%s" % (m.group(1), m.group(3)), pair="")


def rule_dctts(p):
    if p.startswith("LJSpeech-1.1/wavs/"):
        s = stem(p)
        return R(dataset="LJSpeech text, re-read", speaker="philippmatthes", utt=s, pair="ljtext:" + s,
                 note="amateur-microphone re-recording of an LJSpeech sentence by the fork's author")
    return U("no rule")


def rule_resemblyzer(p):
    """Resemblyzer's audio_data: LibriSpeech readers (test-other, 10 clips of each of 10; train-clean-100,
    one clip of each of 251), a YouTube interview, and Donald Trump's real speeches against
    impersonations whose generator the repository does not name."""
    m = re.match(r"audio_data/librispeech_[a-z0-9-]+/(?:\d+/)?((\d+)-\d+-\d+)\.flac$", p)
    if m:
        return R(dataset="LibriSpeech", speaker=m.group(2), utt=m.group(1), pair="")
    if p == "audio_data/X2zqiX6yL3I.mp3":
        return R(dataset="YouTube interview", speaker="interview-X2zqiX6yL3I", utt=stem(p), pair="")
    m = re.match(r"audio_data/donald_trump/(real|fake)/[^/]+\.mp3$", p)
    if m and m.group(1) == "real":
        return R(dataset="YouTube", speaker="trump", utt=stem(p), pair="")
    if m:
        return F("trump-impersonation", family="unknown", speaker="trump", utt=stem(p), pair="")
    return U("no rule")


# ---- SpeechResearch (Microsoft speech research demo pages) ---------------------------

def rule_speechresearch(p):
    s = stem(p)
    low = p.lower()
    parts = p.split("/")
    top = parts[1] if parts[0] == "audio" and len(parts) > 2 else parts[0]

    def pair_dir(depth_from_end=2):
        return "sr:" + "/".join(parts[:-depth_from_end]) + ":" + s

    # --- NaturalSpeech 2
    if p.startswith("naturalspeech2/audio/"):
        sec = parts[2]
        case = parts[3] if len(parts) > 4 else ""
        ds = {"librispeech_examples": "LibriSpeech", "vctk_examples": "VCTK",
              "compare_with_valle": "LibriSpeech", "se": "LibriSpeech?", "vc": "LibriSpeech?", "singing": ""}[sec]
        common = dict(dataset=ds, utt="%s/%s" % (sec, case), pair="ns2:%s:%s" % (sec, case))
        if sec == "singing":
            return R("prompt_reference", kind="singing", domain="singing", utt=s, note="singing prompt")
        if s in ("gt",):
            return R(**common)
        if s in ("reference", "prompt", "ref"):
            return R("prompt_reference", **common)
        if s == "src":
            return R("source", **common)
        if s == "noised":
            return R("noisy_source", kind="bonafide_noisy", **common)
        if s == "ns":
            return F("naturalspeech2", **common)
        if s == "yourtts":
            return F("yourtts", note="page column 'Baseline'", **common)
        if s == "valle":
            return F("vall-e", **common)
        if s == "denoised":
            return F("naturalspeech2", kind="enhance" if sec == "se" else "vc", **common)
    # --- NaturalSpeech 3
    if p.startswith("naturalspeech3/audio/"):
        sec = parts[2]
        if sec == "recon":
            common = dict(dataset="LibriSpeech test-clean", speaker=speaker_from_stem(s), utt=s, pair="ns3:recon:" + s)
            d = parts[3]
            if d == "gt":
                return R(**common)
            codec = {"our": "facodec", "dac_9": "dac", "encodec_8": "encodec", "encodec_10": "encodec",
                     "hificodec": "hificodec", "soundstream_6": "soundstream", "soundstream_12": "soundstream"}[d]
            return F(codec, kind="codec_resynth", family="codec", note=d, **common)
        if sec == "samples":
            n = s.split("_")[0]
            common = dict(utt=n, pair="ns3:samples:" + n)
            return R("prompt_reference", **common) if s.endswith("_prompt") else F("naturalspeech3", **common)
        if sec == "vc":
            common = dict(utt=s, pair="ns3:vc:" + s)
            return {"Prompt": R("prompt_reference", **common), "Source": R("source", **common)}.get(
                parts[3]) or F("naturalspeech3", kind="vc", note="FACodec voice conversion", **common)
        if sec == "attr":
            common = dict(utt=parts[3] + "/" + s, pair="ns3:attr:" + parts[3])
            if re.search(r"^(dur|timbre)\d|(^|_)gen$", s):
                return F("naturalspeech3", note="attribute manipulation", **common)
            if re.search(r"_(fast|slow)$", s):
                return R("prompt_reference", kind="bonafide_processed",
                         note="prompt time-stretched by DSP (0.7x / 1.3x); not TTS", **common)
            return R("prompt_reference", **common)
        if sec == "zstts":
            ds = "RAVDESS" if parts[3] == "Ravdess" else "LibriSpeech test-clean"
            common = dict(dataset=ds, utt=s, pair="ns3:%s:%s" % (parts[3], s))
            if parts[4] == "gt":
                return R(**common)
            if parts[4] == "prompt":
                return R("prompt_reference", **common)
            d = parts[5]
            sysname = {"our": "naturalspeech3", "ns2": "naturalspeech2", "megatts": "megatts2",
                       "megatts2": "megatts2", "hierspeechpp": "hierspeechpp", "styletts2": "styletts2",
                       "uniaudio": "uniaudio", "valle": "vall-e", "voicebox": "voicebox",
                       "voicebox_reproduce": "voicebox"}[d]
            note = {"valle": "VALL-E reproduced", "voicebox_reproduce": "Voicebox reproduced",
                    "voicebox": "Voicebox official demo"}.get(d, "")
            return F(sysname, note=note, **common)
    if p.startswith("popmag/"):
        return X("popmag_" + s.split("_")[-1], "music", note="symbolic music rendering")
    if parts[0] != "audio":
        return U("no rule")

    # --- older pages under audio/<page>/
    if top == "naturalspeech":
        n = s.split("_")[-1]
        common = dict(dataset="LJSpeech", speaker="LJ", utt=n, pair="sr:naturalspeech:" + n)
        return R(**common) if s.startswith("recording") else F("naturalspeech", **common)
    if top == "fastspeech":
        common = dict(dataset="LJSpeech", speaker="LJ", utt=s, pair=pair_dir())
        d = parts[-2]
        if p.startswith("audio/fastspeech/audio/"):
            return {"gt": R(**common),
                    "gt_waveglow": F("waveglow", kind="vocoder_resynth", family="vocoder", **common),
                    "at": F("transformer_tts", **common), "na": F("fastspeech", **common),
                    "merlin": F("merlin", **common), "tacotron2": F("tacotron2", **common)}[d]
        if "/robustness/" in p:
            return F("transformer_tts" if d == "at" else "fastspeech", note="robustness (hard text)", **common)
        return F("fastspeech", note="/".join(parts[2:-1]), **common)
    if top == "fastspeech2":
        d = parts[-2]
        common = dict(dataset="LJSpeech", speaker="LJ", utt=s, pair=pair_dir())
        if d == "gt_recording_2":
            return R(**common)
        if d == "gt_pwg_2":
            return F("parallel_wavegan", kind="vocoder_resynth", family="vocoder", **common)
        if d == "transtts_2":
            return F("transformer_tts", **common)
        if d == "tacotron2":
            return F("tacotron2", note="not on page", **common)
        if d == "fs1_kd_attention":
            return F("fastspeech", **common)
        if d.startswith("fs2s"):
            return F("fastspeech2s", note=d, **common)
        if d.startswith("fs2"):
            return F("fastspeech2", note=d, **common)
    if top == "adaspeech":
        d = parts[-2]
        if "/ref" in p or d == "ref" or parts[-3] == "ref":
            return R("prompt_reference", dataset="LibriTTS/VCTK (adaptation)", utt=s,
                     note="adaptation reference (folder 'ref')")
        if "14 review2" in p:
            if re.match(r"^(c|n)?ref\d|^train\d", s):
                return R("prompt_reference", utt=s, note="not on page; 'ref'/'train' naming (inferred)")
            if re.match(r"^(c)?out\d|^(no)?ae\d", s):
                return F("adaspeech", utt=s, note="not on page; output naming (inferred)")
            return U("not on page; 'review2' files of unclear role", utt=s)
        if "3 pl analyse" in p:
            return U("utterance-level visualisation clips; probably real LibriTTS utterances, not stated", utt=s,
                     speaker=parts[-2])
        if d == "gt":
            return R(utt=s, pair=pair_dir(), dataset=parts[-3])
        if d == "gt mel vocoder":
            return F("melgan", kind="vocoder_resynth", family="vocoder", utt=s, pair=pair_dir(), dataset=parts[-3])
        if d.startswith("baseline"):
            return F("adaspeech", utt=s, pair=pair_dir(), dataset=parts[-3], note="baseline " + d)
        return F("adaspeech", utt=s, pair=pair_dir(), note="/".join(parts[2:-1]))
    if top == "adaspeech2":
        if "/228F/" in p or "/245M/" in p:
            d = parts[3]
            common = dict(dataset="VCTK", speaker=parts[2], utt=s, pair="sr:adaspeech2:%s:%s" % (parts[2], s))
            return {"recording": R(**common),
                    "gt": F("melgan", kind="vocoder_resynth", family="vocoder", note="GT mel + vocoder", **common),
                    "nautilus": F("adaspeech2", note="baseline: joint-training", **common),
                    "ppgs": F("adaspeech2", note="baseline: PPG-based", **common),
                    "fs2": F("adaspeech", **common),
                    "untrans": F("adaspeech2", **common)}[d]
        if parts[2] == "Lj":
            common = dict(dataset="LJSpeech", speaker="LJ", utt="lj", pair="sr:adaspeech2:lj")
            return {"0000000005": R(**common),
                    "gt": F("melgan", kind="vocoder_resynth", family="vocoder", note="GT mel + vocoder", **common),
                    "nautilus": F("adaspeech2", note="baseline: joint-training", **common),
                    "ppgs": F("adaspeech2", note="baseline: PPG-based", **common),
                    "trans": F("adaspeech", **common), "untrans": F("adaspeech2", **common)}[s]
        return F("adaspeech2", utt=s, note=parts[2])
    if top == "adaspeech3":
        d = parts[2]
        if d == "Quality_TC":
            n = s.split("_")[0]
            common = dict(utt=n, pair="sr:adaspeech3:tc:" + n, dataset="spontaneous (internal)")
            if s.endswith("_gt"):
                return R(**common)
            if s.endswith("_gt_melgan"):
                return F("melgan", kind="vocoder_resynth", family="vocoder", **common)
            if s.endswith("_ada"):
                return F("adaspeech", **common)
            return F("adaspeech3", **common)
        if d == "Transfer":
            n = re.sub(r"\D", "", s)
            common = dict(utt=n, pair="sr:adaspeech3:transfer:" + n, dataset="VCTK")
            if s.isdigit():  # page column 'Original Sound' = AdaSpeech 3 output before adaptation:
                # Transfer/00006.wav is byte-identical to Quality_TC/00006_spon.wav (AdaSpeech 3)
                return F("adaspeech3", note="page column 'Original Sound' (un-adapted AdaSpeech 3 output; "
                                            "00006 is byte-identical to Quality_TC/00006_spon)", **common)
            return F("adaspeech3", **common)
        if d == "FP_quality":
            n = s.split("_")[0]
            common = dict(utt=n, pair="sr:adaspeech3:fp:" + n)
            if s.endswith("_gt"):
                return R(note="page column 'GT'", **common)
            return F("adaspeech3", note="filled pauses " + s.split("_", 1)[1], **common)
        return F("adaspeech3", utt=s, note="filled-pause insertion")
    if top == "adaspeech4":
        d = parts[-2]
        common = dict(dataset="LibriTTS/VCTK", utt=s.split("_", 1)[-1], pair="sr:adaspeech4:" + s.split("_", 1)[-1])
        if d == "gt":
            return F("hifigan", kind="vocoder_resynth", family="vocoder", note="page column 'GT mel + HiFiGAN'", **common)
        if d == "adaspeech4" or d == "ablation":
            return F("adaspeech4", note=d, **common)
        if s.startswith("ada1_"):
            return F("adaspeech", **common)
        if s.startswith("dvec_"):
            return F("fastspeech_dvector", note="FastSpeech (d-vector)", **common)
    if top == "lightspeech":
        return F(LIGHT.get(parts[2], "lightspeech"), utt=s, pair="sr:lightspeech:" + s, dataset="LJSpeech",
                 speaker="LJ", note=parts[2])
    if top == "lrspeech":
        if "/train_samples/" in p:
            if s.endswith("_wavegan"):
                return F("wavegan", kind="vocoder_resynth", family="vocoder", utt=s, note="not on page")
            return R(dataset="LJSpeech/LibriSpeech (en) or Lithuanian corpus", utt=s,
                     note="LRSpeech training-data sample (page: High/Low-Quality Speaker)")
        return F("lrspeech", utt=s, note="/".join(parts[2:-1]))
    if top == "multispeech":
        d = parts[-2]
        common = dict(utt=s, pair=pair_dir(), dataset=parts[3] if parts[2] in ("base", "ablation") else "")
        if d == "gt":
            return R(**common)
        if d == "gt mel vocoder":
            return F("wavenet", kind="vocoder_resynth", family="vocoder", **common)
        if d == "transformertts":
            return F("transformer_tts", **common)
        if d == "student":
            return F("fastspeech", note="student of MultiSpeech", **common)
        return F("multispeech", note=d, **common)
    if top == "seminas":
        d = parts[-2]
        common = dict(dataset="LJSpeech", speaker="LJ", utt=s, pair=pair_dir())
        if d == "GriffinLim":
            return F("griffin_lim", kind="vocoder_resynth", family="vocoder", note="GT (Griffin-Lim)", **common)
        return F({"TransformerTTS": "transformer_tts", "SemiNAS": "seminas"}[d], **common)
    if top == "speechtransducer":
        n = re.sub(r"\D", "", s)
        common = dict(dataset="LJSpeech", speaker="LJ", utt=n, pair="sr:speecht:%s:%s" % (
            "rob" if "robustness" in p else "main", n))
        if s.startswith("gt"):
            return F("gt_vocoder", kind="vocoder_resynth", family="vocoder", note="page column 'GT+Vocoder'", **common)
        return F("speech-t" if s.startswith("st") else "transformer_tts", **common)
    if top == "mpbert":
        d = parts[-2]
        common = dict(dataset="LJSpeech", speaker="LJ", utt=s, pair="sr:mpbert:" + s)
        if d == "gt":
            return R(**common)
        if d == "pwg":
            return F("parallel_wavegan", kind="vocoder_resynth", family="vocoder", **common)
        return F("fastspeech2", note="MP-BERT variant: " + "/".join(parts[2:-1]), **common)
    if top in ("200", "unsuper", "super", "gt", "gt_gl"):
        common = dict(dataset="LJSpeech", speaker="LJ", utt=s, pair="sr:unsuper:" + s if top != "200" else "")
        if top == "gt":
            return R(note="not on any page (Almost-Unsupervised TTS demo remnants)", **common)
        if top == "gt_gl":
            return F("griffin_lim", kind="vocoder_resynth", family="vocoder", note="not on any page", **common)
        if top == "super":
            return F("transformer_tts", note="not on any page; supervised baseline (inferred)", **common)
        if top == "200":
            return F("transformer_tts", note="trained on 200 pairs only", **common)
        return F("almost_unsup_tts", **common)
    if top == "priorgrad":
        d = parts[-2]
        common = dict(dataset="LJSpeech", speaker="LJ", utt=s, pair="sr:priorgrad:" + s)
        if d == "GT":
            return R(**common)
        if d == "GT_pwg":
            return F("parallel_wavegan", kind="vocoder_resynth", family="vocoder", **common)
        if d == "gt_hfg":
            return F("hifigan", kind="vocoder_resynth", family="vocoder", **common)
        if "vocoder" in p:  # vocoders driven by ground-truth mel
            name = re.sub(r"_(t\d+|small|\d+[mk].*)$", "", re.sub(r"^\d+[mk]_", "", d))
            name = {"baseline": "diffwave", "baseline_small": "diffwave", "priorgrad": "priorgrad_vocoder",
                    "priorgrad_small": "priorgrad_vocoder", "diffwave": "diffwave"}.get(name, name)
            return F(name, kind="vocoder_resynth", family="vocoder", note=d, **common)
        name = {"fastspeech2": "fastspeech2", "glowtts": "glowtts"}.get(d) or (
            "gradtts" if d.startswith(("gradtts", "baseline")) else "priorgrad")
        return F(name, note=d, **common)
    if top == "prompttts":
        return F("prompttts", utt=s, note="/".join(parts[2:-1]) + ("; two-stage baseline" if "Two-stage" in s else ""))
    if top == "prompttts2":
        return None  # page decides (see PAGE_CAPTION_RULES)
    if top == "denoispeech":
        d = parts[-2]
        common = dict(dataset="LibriTTS + noise" if parts[2] == "artificial" else "real noisy (Siri-style) corpus",
                      utt=s, pair="sr:denoispeech:%s:%s" % (parts[2], s))
        if parts[2] == "noise":
            return X("noise", "noise", note="noise track (GT or extracted)")
        if d == "gt" and parts[2] == "siri":
            return R("noisy_gt", kind="bonafide_noisy", note="real-world noisy recording (page: Noisy GT)", **common)
        if d == "gt":
            return R(**common)
        if d == "topline":
            return F("denoispeech", note="not on page; 'topline' (inferred TTS output)", **common)
        if d == "pwg":
            return F("parallel_wavegan", kind="vocoder_resynth", family="vocoder",
                     note="not on page; 'pwg' folder (inferred vocoder copy-synthesis)", **common)
        if d == "noisy":
            return R("noisy_gt", kind="bonafide_noisy", note="clean speech + added noise", **common)
        note = {"e2e": "DenoiSpeech", "enhance": "baseline: enhancement-based",
                "disentangle": "baseline: augment-adversarial", "borderline": "ablation: without noise condition",
                "global": "ablation: utterance-level noise condition", "two_stages": "ablation: fixed noise extractor",
                "without_ctc": "ablation: without adversarial CTC"}.get(d)
        if note:
            return F("denoispeech", note=note + " (folder -> page column)", **common)
        return None  # page decides
    if top == "uwspeech":
        m = re.match(r"\[case(\d)\]\[([^\]]+)\]", s)
        case, role = m.group(1), m.group(2)
        common = dict(dataset="Fisher Spanish-English", utt="case" + case, pair="sr:uwspeech:" + case)
        if role == "Target":
            return F("griffin_lim", kind="vocoder_resynth", family="vocoder",
                     note="target speech; page says every sample is Griffin-Lim", **common)
        return F({"UWSpeech": "uwspeech", "VQ-VAE": "uwspeech", "Direct_Translation": "uwspeech"}[role],
                 note=role + " (Griffin-Lim)", **common)
    if top == "binauralgrad":
        kind = s.split("_")[0]
        common = dict(utt=s.split("_")[-1], pair="sr:binaural:" + s.split("_")[-1], domain="binaural")
        if kind == "recording":
            return R(**common)
        return F({"ddpm": "binauralgrad", "dsp": "dsp_binaural", "warpnet": "warpnet", "wavenet": "wavenet_binaural"}[kind],
                 kind="binaural_render", family="binaural", **common)
    if top == "deepsinger":
        common = dict(domain="singing")
        if "/audio/" in p:
            d = parts[-2]
            return {"ds": F("deepsinger", kind="singing", family="singing", **common),
                    "gt": R(kind="singing", **common),
                    "gt_gl": F("griffin_lim", kind="vocoder_resynth", family="vocoder", **common),
                    "raw": R("raw_song", kind="singing", note="song with accompaniment", **common)}[d]
        if s in ("bad_align", "good_align"):
            return U("alignment illustration, role unclear", domain="singing")
        if s.startswith("xx_"):
            return R("separated_vocals", kind="bonafide_processed", note="crawled song, vocals separated", **common)
        if s.endswith("_raw"):
            return X("raw_song", "music", note="crawled song with accompaniment")
        if s.endswith("_gt"):
            return F("griffin_lim", kind="vocoder_resynth", family="vocoder", note="GT (Linear+GL)", **common)
        return F("deepsinger", kind="singing", family="singing", **common)
    if top in ("songmass", "telemelody"):
        return X(top, "music", note="generated song / melody")
    return U("no rule")


LIGHT = {}  # filled from the page (voice1..4 -> column) in label_repo


# --------------------------------------------------------------------------------------
# page-caption decisions for folders the path does not settle

def caption_decide(repo, p, refs):
    if not refs:
        return None
    r = refs[0]
    cap = (r.get("header") or "").strip()
    row = (r.get("rowlabel") or "").strip()
    if repo == "SpeechResearch/speechresearch.github.io":
        if "/prompttts2/" in p:
            c = cap if cap in ("PromptTTS 2", "SP-FaceVC", "Ground-Truth") else row
            if c == "Ground-Truth":
                return R(note="Face2Voice section ground truth", utt=stem(p), pair="sr:prompttts2:face2voice")
            sysname = {"PromptTTS 2": "prompttts2", "PromptTTS": "prompttts", "InstructTTS": "instructtts",
                       "SP-FaceVC": "sp-facevc"}.get(c)
            if sysname:
                return F(sysname, utt=stem(p), note="%s / %s" % (r.get("heading", "")[:30], cap))
            return None
        if "/denoispeech/" in p:
            sysname = {"DenoiSpeech": "denoispeech", "Enhancement-Based": "denoispeech",
                       "Augment-Adversarial": "denoispeech"}.get(cap, "denoispeech")
            note = {"Enhancement-Based": "baseline: enhancement-based", "Augment-Adversarial": "baseline: augment-adversarial"}.get(cap, cap)
            return F(sysname, note=note, utt=stem(p), pair="sr:denoispeech:%s:%s" % (p.split("/")[2], stem(p)))
    return None


# --------------------------------------------------------------------------------------

REPOS = {
    "neonbjb+tortoise-tts": ("neonbjb/tortoise-tts", rule_tortoise),
    "SpeechResearch+speechresearch.github.io": ("SpeechResearch/speechresearch.github.io", rule_speechresearch),
    "MobileSpeech+MobileSpeech.github.io": ("MobileSpeech/MobileSpeech.github.io", rule_mobilespeech),
    "styletts2+styletts2.github.io": ("styletts2/styletts2.github.io", rule_styletts2),
    "sh-lee-prml+HierSpeechpp-demo": ("sh-lee-prml/HierSpeechpp-demo", rule_hierspeech),
    "e1tts+e1tts.github.io": ("e1tts/e1tts.github.io", rule_e1tts),
    "Jakobovski+free-spoken-digit-dataset": ("Jakobovski/free-spoken-digit-dataset", rule_fsdd),
    "PhilippMatthes+dc_tts": ("PhilippMatthes/dc_tts", rule_dctts),
    "resemble-ai+Resemblyzer": ("resemble-ai/Resemblyzer", rule_resemblyzer),
}


# --------------------------------------------------------------------------------------
# probing

def parse_wav_header(path):
    """Return (duration_s, sample_rate, channels, codec) from a RIFF/WAVE header, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            fmt = None
            data_size = None
            size = os.path.getsize(path)
            while True:
                ch = f.read(8)
                if len(ch) < 8:
                    break
                cid, clen = ch[:4], struct.unpack("<I", ch[4:])[0]
                if cid == b"fmt ":
                    body = f.read(clen)
                    tag, chans, sr, byterate, align, bits = struct.unpack("<HHIIHH", body[:16])
                    if tag == 0xFFFE and len(body) >= 26:
                        tag = struct.unpack("<H", body[24:26])[0]
                    fmt = (tag, chans, sr, byterate, align, bits)
                    if clen % 2:
                        f.read(1)
                elif cid == b"data":
                    data_size = clen
                    if data_size in (0, 0xFFFFFFFF) or f.tell() + data_size > size:
                        data_size = size - f.tell()
                    break
                else:
                    f.seek(clen + (clen % 2), 1)
            if not fmt or data_size is None or not fmt[3]:
                return None
            tag, chans, sr, byterate, align, bits = fmt
            if tag not in (1, 3):  # PCM / float only: other codecs need ffprobe
                return None
            codec = ("pcm_s%d" % bits) if tag == 1 else ("pcm_f%d" % bits)
            return round(data_size / byterate, 3), sr, chans, codec
    except (OSError, struct.error):
        return None


def ffprobe(path):
    try:
        out = subprocess.run(
            ["nice", "-n", "10", "ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
             "stream=sample_rate,channels,codec_name:format=duration", "-of", "json", path],
            capture_output=True, text=True, timeout=30).stdout
        j = json.loads(out or "{}")
        st = (j.get("streams") or [{}])[0]
        dur = float(j.get("format", {}).get("duration", "nan"))
        return round(dur, 3), int(st.get("sample_rate", 0) or 0), int(st.get("channels", 0) or 0), st.get("codec_name", "")
    except Exception:  # noqa: BLE001
        return None


# --------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default="/work/audio")
    ap.add_argument("--no-probe", action="store_true")
    ap.add_argument("--ffprobe-max", type=int, default=100000,
                    help="at most this many ffprobe calls per source (WAV headers are always parsed)")
    args = ap.parse_args()
    root = args.root
    cache_path = os.path.join(root, "_probe_cache.json")
    cache = json.load(open(cache_path)) if os.path.exists(cache_path) else {}

    rows, conflicts = [], []
    for folder, (repo, rule) in REPOS.items():
        repo_dir = os.path.join(root, folder)
        if not os.path.isdir(repo_dir):
            print("missing folder", folder, file=sys.stderr)
            continue
        commit = open(os.path.join(repo_dir, "_commit.txt")).read().strip()
        audio = []
        for dp, dn, fn in os.walk(repo_dir):
            for f in fn:
                if f.lower().endswith(AUDIO_EXT):
                    audio.append(os.path.relpath(os.path.join(dp, f), repo_dir).replace(os.sep, "/"))
        audio.sort()
        refs, external = page_refs(repo_dir, repo, set(audio))
        if folder.startswith("SpeechResearch"):
            # LightSpeech page: voice1..4 folders map to columns
            LIGHT.clear()
            for pth, rs in refs.items():
                m = re.match(r"audio/lightspeech/(voice\d)/", pth)
                if m:
                    LIGHT[m.group(1)] = {"FastSpeech 2": "fastspeech2", "LightSpeech": "lightspeech",
                                         "FastSpeech 2*": "fastspeech2", "Random Search": "lightspeech"}.get(
                        rs[0]["header"], "lightspeech")
        n_ff = 0
        for p in audio:
            rs = refs.get(p, [])
            d = rule(p)
            if d is None or (d.get("label") == "unknown" and rs):
                d = caption_decide(repo, p, rs) or d or U("no rule and no page caption")
            row = {k: "" for k in FIELDS}
            row.update(d)
            row["path"] = folder + "/" + p
            row["source"] = "%s@%s" % (repo, commit)
            row["on_page"] = "1" if rs else "0"
            row["page_caption"] = caption_of(rs[0])[:160] if rs else ""
            if rs and row["label"] in ("real", "fake"):
                cls = caption_class(rs[0])
                if cls and cls != row["label"] and not (row["kind"] in ("vocoder_resynth", "codec_resynth",
                                                                         "super_resolution") and cls == "fake"):
                    conflicts.append((row["path"], row["label"], row["system"], cls, row["page_caption"]))
            full = os.path.join(repo_dir, p)
            if not args.no_probe:
                key = "%s|%d|%d" % (row["path"], os.path.getsize(full), int(os.path.getmtime(full)))
                pr = cache.get(key)
                if pr is None:
                    pr = parse_wav_header(full)
                    if pr is None and n_ff < args.ffprobe_max:
                        pr = ffprobe(full)
                        n_ff += 1
                    if pr is not None:
                        cache[key] = pr
                if pr:
                    row["duration_s"], row["sample_rate"], row["channels"], row["codec"] = pr[:4]
                hkey = "md5|" + key
                if hkey not in cache:
                    cache[hkey] = hashlib.md5(open(full, "rb").read()).hexdigest()
                row["md5"] = cache[hkey]
            rows.append(row)
        print("%-45s %5d clips, %4d on a page, %d external refs" % (folder, len(audio),
              sum(1 for p in audio if p in refs), external), file=sys.stderr)
        missing_refs = sorted(set(refs) - set(audio))
        mf = os.path.join(repo_dir, "_missing.txt")
        miss = set(open(mf).read().split("\n")) if os.path.exists(mf) else set()
        unresolved = [m for m in missing_refs if m not in miss and m.lower().endswith(AUDIO_EXT)]
        if unresolved:
            print("   page refs to files not in the snapshot: %d (e.g. %s)" % (len(unresolved), unresolved[:3]),
                  file=sys.stderr)

    json.dump(cache, open(cache_path, "w"))
    first = {}
    for r in rows:  # byte-identical copies (e.g. the same LibriSpeech GT on several demo pages)
        if r["md5"]:
            if r["md5"] in first:
                r["dup_of"] = first[r["md5"]]
            else:
                first[r["md5"]] = r["path"]
    groups = defaultdict(list)
    for r in rows:
        if r["md5"]:
            groups[r["md5"]].append(r)
    for g in groups.values():
        labels = {r["label"] for r in g}
        if len(g) > 1 and len(labels) > 1:
            desc = "; ".join("%s=%s/%s" % (r["path"].split("/", 1)[1], r["label"], r["system"]) for r in g)
            for r in g:
                r["note"] = ("byte-identical files carry different labels (%s); was %s/%s. " % (
                    desc, r["label"], r["system"]) + r["note"])[:400]
                r["label"], r["system"], r["family"], r["kind"] = "unknown", "unknown", "-", "-"
    out = os.path.join(root, "labels.csv")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    with open(os.path.join(root, "_label_conflicts.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "rule_label", "system", "caption_says", "page_caption"])
        w.writerows(conflicts)
    c = Counter(r["label"] for r in rows)
    print("wrote %s: %d rows %s; %d rule/caption disagreements -> _label_conflicts.csv" % (
        out, len(rows), dict(c), len(conflicts)), file=sys.stderr)


if __name__ == "__main__":
    main()
