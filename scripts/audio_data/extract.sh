#!/bin/bash
# Extract audio files (and demo-page HTML, licences) from fetched snapshots into /work/audio/<owner>+<name>/
# keeping their repository paths. Files absent from the snapshot (>= 4 MiB) are listed in _missing.txt.
set -u
OUT=/work/audio
for d in /work/.mirror/*/repo; do
  name=$(basename $(dirname $d))
  case "$name" in clovaai+aasist) continue;; esac
  dest=$OUT/$name; mkdir -p "$dest"
  git --git-dir=$d rev-parse HEAD > "$dest/_commit.txt"
  : > "$dest/_missing.txt"
  git --git-dir=$d ls-tree -r -z HEAD | while IFS= read -r -d '' line; do
    meta=${line%%$'\t'*}; path=${line#*$'\t'}; obj=$(echo $meta | awk '{print $3}')
    lc=$(echo "$path" | tr 'A-Z' 'a-z')
    case "$lc" in
      *.wav|*.mp3|*.flac|*.ogg|*.m4a|*.opus|*.html|*.htm|*.md|license*|*/license*|*.txt|*/metadata_all.csv) ;;
      *) continue;;
    esac
    if git --git-dir=$d cat-file -e $obj 2>/dev/null; then
      mkdir -p "$dest/$(dirname "$path")"
      git --git-dir=$d cat-file blob $obj > "$dest/$path"
    else
      echo "$path" >> "$dest/_missing.txt"
    fi
  done
done
# AASIST: weights, configs and licence only
d=/work/.mirror/clovaai+aasist/repo
if [ -d "$d" ]; then
  mkdir -p $OUT/clovaai+aasist
  git --git-dir=$d archive HEAD models/weights config LICENSE NOTICE README.md | tar -x -C $OUT/clovaai+aasist
  git --git-dir=$d rev-parse HEAD > $OUT/clovaai+aasist/_commit.txt
fi
