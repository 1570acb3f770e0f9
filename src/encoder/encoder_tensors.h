/*
 * encoder_tensors.h - what other objects of the library (the optimizer)
 * may see of an encoder: its flat parameter and gradient arrays and the
 * tensors they hold.
 */
#ifndef CTR_ENCODER_TENSORS_H
#define CTR_ENCODER_TENSORS_H

#include "common/core.h"

/* The live arrays (n floats each; NULL when n == 0). */
void ctr__encoder_arrays(ctr_encoder *enc, float **params, float **grads,
                         int64_t *n);
/* Number of parameter tensors, and for tensor i its offset, element count
 * and role (CTR_TENSOR_*). */
int64_t ctr__encoder_tensor_count(const ctr_encoder *enc);
void ctr__encoder_tensor(const ctr_encoder *enc, int64_t i, int64_t *offset,
                         int64_t *count, int32_t *role);

#endif /* CTR_ENCODER_TENSORS_H */
