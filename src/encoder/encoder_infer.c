/*
 * encoder_infer.c - the no-grad forward (ctr_encoder_forward with
 * CTR_ENCODER_NO_GRAD): MoCo's key encoder, a frozen teacher, features
 * for kNN or a probe. Nothing is kept for backward: each layer's output
 * goes to one of a few buffers of n x the widest output, reused as soon
 * as no later layer reads it (two for a chain, one more per open residual
 * block), the last layer's straight to y; the layers share one scratch
 * area (their no-grad cache: a convolution's columns for one chunk of
 * samples rather than the batch's). The workspace is the handle's own,
 * apart from the training one, so a key encoder never allocates that.
 */
#include <string.h>

#include "encoder/encoder.h"

#define WORK_ALIGN 16 /* floats: every buffer starts on 64 bytes */

static size_t align_up(size_t v)
{
    return (v + WORK_ALIGN - 1) / WORK_ALIGN * WORK_ALIGN;
}

/* Each layer's last reader: the next layer, or a later layer's skip link. */
static void find_last_readers(ctr_encoder *enc)
{
    int64_t i;
    for (i = 0; i < enc->n_layers; i++)
        enc->layers[i].last_reader = i + 1;
    for (i = 0; i < enc->n_layers; i++) {
        const ctr__layer *l = &enc->layers[i];
        if (l->ops->has_skip && l->hi[0] >= 0 && enc->layers[l->hi[0]].last_reader < i)
            enc->layers[l->hi[0]].last_reader = i;
    }
}

/* Gives every layer but the last a buffer no later reader of another
 * output still needs (first fit); buffer s's state is kept in layer s.
 * Run whenever a layer is added, so that calls on a const handle only read
 * the plan. */
void ctr__encoder_plan_slots(ctr_encoder *enc)
{
    int64_t i, s, slots = 0;
    find_last_readers(enc);
    for (i = 0; i < enc->n_layers; i++) {
        ctr__layer *l = &enc->layers[i];
        l->infer_slot = -1;
        if (i == enc->n_layers - 1)
            break;
        for (s = 0; s < slots && enc->layers[s].slot_busy_until >= i; s++)
            ;
        if (s == slots)
            slots++;
        l->infer_slot = s;
        enc->layers[s].slot_busy_until = l->last_reader;
    }
    enc->infer_slots = slots;
}

/* Floats of the no-grad workspace for n samples; the buffers' size and
 * the scratch's offset in *slot and *scratch. */
static int plan_nograd(const ctr_encoder *enc, int64_t n, size_t *total, size_t *slot,
                       size_t *scratch)
{
    size_t buf, need = 0, c;
    int64_t i, widest = 1;
    for (i = 0; i < enc->n_layers; i++) {
        const ctr__layer *l = &enc->layers[i];
        if (ctr__shape_size(&l->out) > widest)
            widest = ctr__shape_size(&l->out);
        if (ctr__layer_cache_floats(l, n, enc->bn_groups, 1, &c) != CTR_OK)
            return CTR_E_OVERFLOW;
        need = c > need ? c : need;
    }
    if (ctr__matrix_bytes(&buf, n, widest, 1) != CTR_OK || buf > SIZE_MAX / 2)
        return CTR_E_OVERFLOW;
    *slot = align_up(buf);
    if (ctr__mul_size(scratch, *slot, (size_t)enc->infer_slots) != CTR_OK ||
        ctr__add_size(total, *scratch, need) != CTR_OK || *total > SIZE_MAX / sizeof(float))
        return CTR_E_OVERFLOW;
    if (*total == 0) /* one layer without scratch: still one block */
        *total = WORK_ALIGN;
    return CTR_OK;
}

int ctr__encoder_nograd_bytes(const ctr_encoder *enc, int64_t n, size_t *bytes)
{
    size_t total, slot, scratch;
    int rc = plan_nograd(enc, n, &total, &slot, &scratch);
    if (rc == CTR_OK)
        *bytes = total * sizeof(float);
    return rc;
}

static int ensure_nograd_workspace(ctr_encoder *enc, int64_t n)
{
    size_t total, slot, scratch;
    float *work;
    int rc;
    if (enc->infer_work != NULL && n <= enc->infer_batch)
        return CTR_OK;
    rc = plan_nograd(enc, n, &total, &slot, &scratch);
    if (rc != CTR_OK)
        return ctr__fail(&enc->err, rc, "workspace for %lld samples overflows", (long long)n);
    work = (float *)ctr__malloc(&enc->alloc, total * sizeof(float));
    if (work == NULL)
        return ctr__fail(&enc->err, CTR_E_NOMEM,
                         "cannot allocate the no-grad workspace for %lld samples", (long long)n);
    ctr__free(&enc->alloc, enc->infer_work, enc->infer_floats * sizeof(float));
    enc->infer_work = work;
    enc->infer_floats = total;
    enc->infer_batch = n;
    enc->slot_floats = slot;
    enc->scratch_offset = scratch;
    return CTR_OK;
}

/* The output of layer i in this forward (i = -1: the input x). */
static const float *output_of(const ctr_encoder *enc, int64_t i, const float *x)
{
    return i < 0 ? x : enc->infer_work + (size_t)enc->layers[i].infer_slot * enc->slot_floats;
}

int ctr__encoder_forward_nograd(ctr_encoder *enc, float *y, const float *x, int64_t n,
                                int train)
{
    int64_t i;
    int rc = ensure_nograd_workspace(enc, n);
    if (rc != CTR_OK)
        return rc;
    for (i = 0; i < enc->n_layers; i++) {
        const ctr__layer *l = &enc->layers[i];
        ctr__layer_run r;
        memset(&r, 0, sizeof(r));
        r.n = n;
        r.train = train;
        r.nograd = 1;
        r.groups = enc->bn_groups;
        r.x = output_of(enc, i - 1, x);
        r.y = l->infer_slot < 0 ? y : (float *)output_of(enc, i, x);
        r.w = enc->params == NULL ? NULL : enc->params + l->param_offset;
        r.stat = enc->stats == NULL ? NULL : enc->stats + l->stat_offset;
        r.cache = enc->infer_work + enc->scratch_offset;
        r.rng = &enc->gen;
        if (l->ops->has_skip)
            r.skip = output_of(enc, l->hi[0], x);
        l->ops->forward(l, &r);
    }
    if (enc->n_layers == 0)
        memcpy(y, x, (size_t)(n * ctr__shape_size(&enc->input)) * sizeof(float));
    enc->batch = n;
    enc->stage = CTR__STAGE_NOGRAD;
    return CTR_OK;
}
