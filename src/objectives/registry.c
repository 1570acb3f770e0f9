/*
 * registry.c - the list of objective kinds. Each kind's file defines its
 * table, const ctr__obj_kind ctr__obj_<name> (kind.h); adding a kind adds
 * one line to CTR__OBJ_KINDS, and nothing else of the handle changes.
 */
#include "objectives/registry.h"

#define CTR__OBJ_KINDS(X) \
    X(infonce)            \
    X(ntxent)             \
    X(infonce_shared)     \
    X(npair)              \
    X(nce)                \
    X(bank_softmax)       \
    X(cpc)                \
    X(bilinear)           \
    X(local_global)       \
    X(distill)            \
    /* one line per kind above, each ending with a backslash */

#define DECLARE_KIND(name) extern const ctr__obj_kind ctr__obj_##name;
#define LIST_KIND(name) &ctr__obj_##name,

CTR__OBJ_KINDS(DECLARE_KIND)

static const ctr__obj_kind *const KINDS[] = {CTR__OBJ_KINDS(LIST_KIND)};

#define KIND_COUNT (sizeof(KINDS) / sizeof(KINDS[0]))

const ctr__obj_kind *ctr__obj_kind_find(int32_t id)
{
    size_t i;
    for (i = 0; i < KIND_COUNT; i++)
        if (KINDS[i]->id == id)
            return KINDS[i];
    return NULL;
}

const ctr__obj_kind *ctr__obj_kind_at(size_t i)
{
    return i < KIND_COUNT ? KINDS[i] : NULL;
}
