/*
 * corpus.h - the cpc-speech corpus: ten digits and ten short command words
 * spoken by ten espeak-ng voices (accent + voice variant) at three
 * speed/pitch settings, synthesised with Debian's espeak-ng at the first
 * run, resampled to 16 kHz mono and kept as WAV files under <dir>/. Each
 * (word, voice) has three utterances: one (a rotating setting) is held out
 * for testing, two are for training.
 */
#ifndef CPC_SPEECH_CORPUS_H
#define CPC_SPEECH_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#define CORPUS_RATE 16000
#define CORPUS_WORDS 20
#define CORPUS_VOICES 10
#define CORPUS_SETTINGS 3

typedef struct utterance {
    float *samples;   /* 16 kHz, silence trimmed, unit RMS */
    int64_t count;
    int64_t word, voice, setting;
    int test;         /* 1: held out */
} utterance;

typedef struct corpus {
    utterance *u;
    int64_t count;
} corpus;

extern const char *const corpus_words[CORPUS_WORDS];
extern const char *const corpus_voices[CORPUS_VOICES];

/* Loads the first `words` words of the first `voices` voices from dir,
 * synthesising the missing files first (espeak-ng must be on PATH).
 * Returns 0, or -1 with a message in err. */
int corpus_load(corpus *c, const char *dir, int64_t words, int64_t voices,
                char *err, size_t cap);
void corpus_free(corpus *c);

#endif /* CPC_SPEECH_CORPUS_H */
