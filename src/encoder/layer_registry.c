/*
 * layer_registry.c - the list of layer kinds. Each kind's file defines its
 * table, const ctr__layer_ops ctr__layer_<name>_ops (layer.h), next to its
 * ctr_encoder_add_* call; adding a kind adds one line to CTR__LAYER_KINDS,
 * and nothing else of the encoder changes.
 */
#include "encoder/layer_registry.h"

#define CTR__LAYER_KINDS(X) \
    X(linear)               \
    X(batchnorm)            \
    X(layernorm)            \
    X(relu)                 \
    X(gelu)                 \
    X(tanh)                 \
    X(l2norm)               \
    X(flatten)              \
    X(conv2d)               \
    X(conv1d)               \
    X(maxpool2d)            \
    X(avgpool2d)            \
    X(global_avgpool)       \
    X(dropout)              \
    X(gru)                  \
    X(residual)             \
    /* one line per kind above, each ending with a backslash */

#define DECLARE_KIND(name) extern const ctr__layer_ops ctr__layer_##name##_ops;
#define LIST_KIND(name) &ctr__layer_##name##_ops,

CTR__LAYER_KINDS(DECLARE_KIND)

static const ctr__layer_ops *const KINDS[] = {CTR__LAYER_KINDS(LIST_KIND)};

#define KIND_COUNT (sizeof(KINDS) / sizeof(KINDS[0]))

const ctr__layer_ops *ctr__layer_find(int32_t kind)
{
    size_t i;
    for (i = 0; i < KIND_COUNT; i++)
        if (KINDS[i]->kind == kind)
            return KINDS[i];
    return NULL;
}

const ctr__layer_ops *ctr__layer_at(size_t i)
{
    return i < KIND_COUNT ? KINDS[i] : NULL;
}
