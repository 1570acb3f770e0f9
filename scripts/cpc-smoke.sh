#!/bin/sh
# cpc-smoke.sh BUILD_DIR - seconds-long runs of the predictive-coding
# examples (CI): cpc-speech on a 4-word, 3-voice corpus (espeak-ng
# synthesises it into a temporary directory), cpc-images as CPC v2 and as
# Greedy InfoMax on image subsets. Checks the RESULT lines, accuracies
# above chance and the report files.
set -eu
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
num='[0-9]\.[0-9]{4}'

"$bin/cpc-speech" --words 4 --voices 3 --max-steps 4 --batch 8 --out "$tmp/speech" > "$tmp/speech.out"
result=$(tail -n 1 "$tmp/speech.out")
echo "cpc-smoke: $result"
echo "$result" | grep -Eq "^RESULT method=cpc-speech word_acc=$num voice_acc=$num random_word_acc=$num random_voice_acc=$num spectrogram_word_acc=$num spectrogram_voice_acc=$num$" ||
    { echo "cpc-smoke: malformed speech RESULT line" >&2; exit 1; }
# 4 words, 3 voices: chance 0.25 / 0.33; the CPC word probe and the
# spectrogram baseline must clear it
echo "$result" | awk '{ split($3, c, "="); split($7, w, "="); split($8, v, "=");
    if (c[2] <= 0.25 || w[2] <= 0.25 || v[2] <= 0.34) { print "cpc-smoke: speech at chance" > "/dev/stderr"; exit 1 } }'
test -s "$tmp/speech/curve.csv" && test -s "$tmp/speech/curve.svg"
test "$(ls "$tmp/speech/corpus" | wc -l)" -eq 36
# the voice-gap front-ends (docs/results.md, "the voice gap, third pass"):
# multi-band CPC with the coarser sixth layer (and, fifth pass, a high-band
# model of its own widths), and the two-channel input;
# and the fourth pass's options in one run (three bands, the log-compressed
# first layer, the utterance-level term with its projection), and the
# fifth pass's learnable log-energy front end; they reuse the corpus above
for front in "--front split --stride6 2 --steps 8 --high-channels 32 --high-context 64" "--front stack" \
    "--front split3 --stride6 2 --steps 8 --compress log --utt-weight 1 --utt-proj 16" \
    "--compress logpow --fb-init mel --fb-pairs 16"; do
    "$bin/cpc-speech" --words 4 --voices 3 --max-steps 4 --batch 8 $front --out "$tmp/speech" > "$tmp/speech.out"
    result=$(tail -n 1 "$tmp/speech.out")
    echo "cpc-smoke: $front: $result"
    echo "$result" | grep -Eq "^RESULT method=cpc-speech word_acc=$num voice_acc=$num random_word_acc=$num random_voice_acc=$num spectrogram_word_acc=$num spectrogram_voice_acc=$num$" ||
        { echo "cpc-smoke: malformed speech RESULT line ($front)" >&2; exit 1; }
done
# two bands step side by side on two threads (the default) or one after the
# other: the same numbers
for t in 1 2; do
    "$bin/cpc-speech" --words 4 --voices 3 --max-steps 4 --batch 8 --front split --threads $t \
        --out "$tmp/speech" | tail -n 1 > "$tmp/speech.t$t"
done
cmp -s "$tmp/speech.t1" "$tmp/speech.t2" ||
    { echo "cpc-smoke: --threads 1 and 2 disagree" >&2; cat "$tmp/speech.t1" "$tmp/speech.t2" >&2; exit 1; }

small="--max-steps 30 --batch 8 --probe-train 600 --test-subset 300"
for flag in "" --gim; do
    "$bin/cpc-images" $flag $small --out "$tmp/images$flag" > "$tmp/images.out"
    result=$(tail -n 1 "$tmp/images.out")
    echo "cpc-smoke: $result"
    method=cpc-v2
    [ -n "$flag" ] && method=gim
    echo "$result" | grep -Eq "^RESULT method=$method linear_acc=$num random_linear_acc=$num raw_linear_acc=$num$" ||
        { echo "cpc-smoke: malformed images RESULT line" >&2; exit 1; }
    # ten classes: chance 0.1; a probe on 600 images must clear 0.5
    echo "$result" | awk '{ split($3, a, "="); if (a[2] < 0.5) { print "cpc-smoke: images at chance" > "/dev/stderr"; exit 1 } }'
    test -s "$tmp/images$flag/curve.csv" && test -s "$tmp/images$flag/curve.svg"
done
echo "cpc-smoke: ok"
