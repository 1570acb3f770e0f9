/*
 * registry.h - the objective kinds by their CTR_OBJECTIVE_* value: the one
 * place that lists them (registry.c).
 */
#ifndef CTR_REGISTRY_H
#define CTR_REGISTRY_H

#include "objectives/kind.h"

/* The table of the kind with that CTR_OBJECTIVE_* value, or NULL. */
const ctr__obj_kind *ctr__obj_kind_find(int32_t id);
/* The i-th kind of the registry, NULL past the last (tests walk them). */
const ctr__obj_kind *ctr__obj_kind_at(size_t i);

#endif /* CTR_REGISTRY_H */
