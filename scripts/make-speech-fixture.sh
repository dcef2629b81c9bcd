#!/usr/bin/env bash
# Regenerate tests/fixtures/speech.mp4 and tests/fixtures/speech.json (the indexing tests' fixture).
#
# Each sentence is synthesised on its own with espeak-ng, then the sentences are concatenated
# with silences of known length, so each sentence's start time is exact (sample counts, not
# estimates). The audio is muxed with a small ffmpeg test pattern into an MP4.
#
#   bash scripts/make-speech-fixture.sh        (needs espeak-ng: apt-get install espeak-ng)
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${VENV_PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=/work/main/.venv/bin/python
FFMPEG="${FFMPEG:-$(PYTHONPATH=$PWD "$PYTHON" -c 'from openvod.encoding.tools import ffmpeg; print(ffmpeg())')}"
FFPROBE="${FFPROBE:-$(PYTHONPATH=$PWD "$PYTHON" -c 'from openvod.encoding.tools import ffprobe; print(ffprobe())')}"
OUT_DIR=tests/fixtures
RATE=22050           # espeak-ng's native sample rate: no resampling before the concat
LEAD_SECONDS=0.5     # silence before the first sentence
GAP_SECONDS=1.0      # silence between sentences (a pause the cue builder breaks at)
SENTENCES=(
  "Welcome to the open video service."
  "Today we will learn how to index speech in a video."
  "The weather is sunny and warm in the morning."
  "Please remember to save your work before you leave."
  "Thank you for watching, and see you next time."
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

silence() {  # silence of $1 seconds into $2 (same format as espeak-ng's output)
  "$FFMPEG" -v error -y -f lavfi -i "anullsrc=r=$RATE:cl=mono" -t "$1" -c:a pcm_s16le "$2"
}

list="$work/list.txt"
: > "$list"
silence "$LEAD_SECONDS" "$work/lead.wav"
echo "file '$work/lead.wav'" >> "$list"
silence "$GAP_SECONDS" "$work/gap.wav"
start=$LEAD_SECONDS
json_items=()
for i in "${!SENTENCES[@]}"; do
  text="${SENTENCES[$i]}"
  espeak-ng -v en-us -s 150 -w "$work/s$i.wav" "$text"
  duration=$("$FFPROBE" -v error -show_entries format=duration -of csv=p=0 "$work/s$i.wav")
  json_items+=("{\"text\": \"$text\", \"startSeconds\": $start, \"endSeconds\": $(echo "$start + $duration" | bc -l | sed 's/^\./0./')}")
  echo "file '$work/s$i.wav'" >> "$list"
  echo "file '$work/gap.wav'" >> "$list"
  start=$(echo "$start + $duration + $GAP_SECONDS" | bc -l | sed 's/^\./0./')
done
"$FFMPEG" -v error -y -f concat -safe 0 -i "$list" -c:a pcm_s16le "$work/speech.wav"
total=$("$FFPROBE" -v error -show_entries format=duration -of csv=p=0 "$work/speech.wav")

# A small moving test pattern (160x90, 10 fps) and mono AAC: a few tens of KB.
"$FFMPEG" -v error -y \
  -f lavfi -i "testsrc=size=160x90:rate=10:duration=$total" \
  -i "$work/speech.wav" \
  -map 0:v -map 1:a \
  -c:v libx264 -preset veryslow -crf 35 -pix_fmt yuv420p -g 50 \
  -c:a aac -b:a 48k -ac 1 -ar 22050 \
  -movflags +faststart -shortest "$OUT_DIR/speech.mp4"

{
  echo "{"
  echo "  \"language\": \"en-US\","
  echo "  \"durationSeconds\": $total,"
  echo "  \"sentences\": ["
  for i in "${!json_items[@]}"; do
    sep=","; [ "$i" -eq $((${#json_items[@]} - 1)) ] && sep=""
    echo "    ${json_items[$i]}$sep"
  done
  echo "  ]"
  echo "}"
} > "$OUT_DIR/speech.json"
ls -l "$OUT_DIR/speech.mp4" "$OUT_DIR/speech.json"
