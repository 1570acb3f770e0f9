/*
 * encoder_build.h - appending layers to an encoder (encoder_build.c): what
 * a layer kind's ctr_encoder_add_* call uses, and the handle's copies and
 * checkpoints too.
 */
#ifndef CTR_ENCODER_BUILD_H
#define CTR_ENCODER_BUILD_H

#include "encoder/layer.h"

/* The public add call's work: clears enc's error, then appends l (its ops,
 * hi and hf set). CTR_E_INVALID_ARG for a NULL enc. */
int ctr__encoder_add(ctr_encoder *enc, const ctr__layer *l);
/* Configures l on enc's current output shape and appends it, drawing its
 * initial values from enc's generator. All-or-nothing; releases the
 * workspace. */
int ctr__encoder_append(ctr_encoder *enc, ctr__layer l);
/* ctr__encoder_add for a call that takes its layer's kind among several
 * (ctr_encoder_add_activation, _pool2d): l->ops NULL means `kind` is none
 * of them, refused with CTR_E_INVALID_ARG and "<rule> (got <kind>)". */
int ctr__encoder_add_kind(ctr_encoder *enc, const ctr__layer *l,
                          int32_t kind, const char *rule);

#endif /* CTR_ENCODER_BUILD_H */
