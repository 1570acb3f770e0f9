/*
 * layer_flatten.c - the flatten kind: a sequence or image sample becomes
 * one vector of all its values (a copy; no parameters, no cache). In the
 * train workspace it is a view (ops->is_view): its output is its input's
 * buffer and neither copy runs (encoder_run.c).
 */
#include <string.h>

#include "encoder/encoder_build.h"

static int flatten_configure(ctr__layer *l, ctr__error *err)
{
    if (l->in.ndims == 1)
        return ctr__fail(err, CTR_E_SHAPE, "flatten needs a sequence or image input");
    l->out.ndims = 1;
    l->out.d[0] = ctr__shape_size(&l->in);
    l->out.d[1] = l->out.d[2] = 1;
    l->param_count = 0;
    l->stat_count = 0;
    return CTR_OK;
}

static void flatten_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    memcpy(r->y, r->x, (size_t)r->n * ctr__shape_size(&l->in) * sizeof(float));
}

static void flatten_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    if (r->dx != NULL)
        memcpy(r->dx, r->dy, (size_t)r->n * ctr__shape_size(&l->in) * sizeof(float));
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_flatten_ops = {
    .kind = CTR_LAYER_FLATTEN,
    .is_view = 1,
    .configure = flatten_configure,
    .forward = flatten_forward,
    .backward = flatten_backward,
};

CTR_API int ctr_encoder_add_flatten(ctr_encoder *enc)
{
    ctr__layer l = ctr__layer_template(&ctr__layer_flatten_ops);
    return ctr__encoder_add(enc, &l);
}
