/*
 * encoder_tensors.c - an encoder's parameter tensors, layer by layer as
 * their kinds describe them: the public tensor queries and what the
 * optimizer sees (encoder_tensors.h).
 */
#include "encoder/encoder_tensors.h"

#include <string.h>

#include "encoder/encoder.h"

/* Calls fn for every parameter tensor in order, until fn returns nonzero. */
typedef int (*tensor_visit_fn)(void *ctx, int64_t layer, int64_t offset,
                               const ctr__tensor_desc *d);

static void visit_tensors(const ctr_encoder *enc, tensor_visit_fn fn, void *ctx)
{
    int64_t i;
    for (i = 0; i < enc->n_layers; i++) {
        const ctr__layer *l = &enc->layers[i];
        const ctr__layer_ops *ops = l->ops;
        ctr__tensor_desc d[CTR__LAYER_MAX_TENSORS];
        int k, count = ops->tensors == NULL ? 0 : ops->tensors(l, d);
        int64_t off = l->param_offset;
        for (k = 0; k < count; k++) {
            if (fn(ctx, i, off, &d[k]))
                return;
            off += d[k].count;
        }
    }
}

typedef struct tensor_query {
    int64_t wanted, seen;
    int64_t layer, offset;
    ctr__tensor_desc desc;
} tensor_query;

static int find_tensor(void *ctx, int64_t layer, int64_t offset,
                       const ctr__tensor_desc *d)
{
    tensor_query *q = (tensor_query *)ctx;
    if (q->seen++ != q->wanted)
        return 0;
    q->layer = layer;
    q->offset = offset;
    q->desc = *d;
    return 1;
}

int64_t ctr__encoder_tensor_count(const ctr_encoder *enc)
{
    tensor_query q;
    q.wanted = -1;
    q.seen = 0;
    visit_tensors(enc, find_tensor, &q);
    return q.seen;
}

static int lookup_tensor(const ctr_encoder *enc, int64_t i, tensor_query *q)
{
    q->wanted = i;
    q->seen = 0;
    q->layer = -1;
    if (i < 0)
        return CTR_E_INVALID_ARG;
    visit_tensors(enc, find_tensor, q);
    return q->layer < 0 ? CTR_E_INVALID_ARG : CTR_OK;
}

void ctr__encoder_tensor(const ctr_encoder *enc, int64_t i, int64_t *offset,
                         int64_t *count, int32_t *role)
{
    tensor_query q;
    lookup_tensor(enc, i, &q);
    *offset = q.offset;
    *count = q.desc.count;
    *role = q.desc.role;
}

void ctr__encoder_arrays(ctr_encoder *enc, float **params, float **grads,
                         int64_t *n)
{
    *params = enc->params;
    *grads = enc->grads;
    *n = enc->n_params;
}

CTR_API int ctr_encoder_num_tensors(const ctr_encoder *enc, int64_t *out)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    if (out == NULL)
        return ctr__const_fail(&enc->err, CTR_E_INVALID_ARG, "out is NULL");
    *out = ctr__encoder_tensor_count(enc);
    return ctr__const_result(&enc->err, CTR_OK, NULL);
}

CTR_API int ctr_encoder_tensor_info(const ctr_encoder *enc, int64_t *layer,
                                    int32_t *role, int64_t *offset,
                                    int64_t *dims, int32_t *ndims,
                                    int64_t tensor)
{
    tensor_query q;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    if (lookup_tensor(enc, tensor, &q) != CTR_OK)
        return ctr__const_fail(&enc->err, CTR_E_INVALID_ARG,
                               "tensor %lld out of range (the encoder has %lld)",
                               (long long)tensor, (long long)ctr__encoder_tensor_count(enc));
    if (layer != NULL)
        *layer = q.layer;
    if (role != NULL)
        *role = q.desc.role;
    if (offset != NULL)
        *offset = q.offset;
    if (dims != NULL)
        memcpy(dims, q.desc.dims, sizeof(q.desc.dims));
    if (ndims != NULL)
        *ndims = q.desc.ndims;
    return ctr__const_result(&enc->err, CTR_OK, NULL);
}
