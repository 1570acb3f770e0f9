/*
 * layer_registry.h - the layer kinds by their CTR_LAYER_* value: the one
 * place that lists them (layer_registry.c), for reading checkpoints.
 */
#ifndef CTR_LAYER_REGISTRY_H
#define CTR_LAYER_REGISTRY_H

#include "encoder/layer.h"

/* The table of the layer kind with that CTR_LAYER_* value, or NULL. */
const ctr__layer_ops *ctr__layer_find(int32_t kind);
/* The i-th kind of the registry, NULL past the last (tests walk them). */
const ctr__layer_ops *ctr__layer_at(size_t i);

#endif /* CTR_LAYER_REGISTRY_H */
