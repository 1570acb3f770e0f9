/*
 * constants.c - the public headers' integer constants by name, for bindings
 * (ctr_constant_value, ctr_constant_name, ctr_constant_at). The list is
 * generated from the headers at build time (scripts/gen-constants.sh), and
 * the compiler evaluates every value from the macro itself.
 */
#include "common/core.h"

#include <string.h>

typedef struct named_constant {
    const char *name;
    int64_t value;
} named_constant;

#define CTR__CONSTANT(name) {#name, (int64_t)(name)},
static const named_constant constants[] = {
#include "constants_table.h"
};
#undef CTR__CONSTANT

#define CONSTANT_COUNT ((int64_t)(sizeof(constants) / sizeof(constants[0])))

/* Length of a name's group prefix: through "_P_" or "_S_" when the name
 * has one after "CTR_", else through its second word ("CTR_LAYER_"). */
static size_t group_length(const char *name)
{
    const char *rest = name + 4; /* after "CTR_" */
    const char *p = strstr(rest, "_P_"), *s = strstr(rest, "_S_");
    const char *mark = p != NULL && (s == NULL || p < s) ? p : s;
    const char *word_end;
    if (mark != NULL)
        return (size_t)(mark - name) + 3;
    word_end = strchr(rest, '_');
    return word_end == NULL ? 4 : (size_t)(word_end - name) + 1;
}

static int in_group(const char *name, const char *group)
{
    size_t len = strlen(group);
    if (strcmp(name, "CTR_OK") == 0)
        return strcmp(group, "CTR_E_") == 0;
    return group_length(name) == len && strncmp(name, group, len) == 0;
}

CTR_API int ctr_constant_value(const char *name, int64_t *value)
{
    int64_t i;
    if (name == NULL || value == NULL)
        return CTR_E_INVALID_ARG;
    for (i = 0; i < CONSTANT_COUNT; i++) {
        if (strcmp(constants[i].name, name) == 0) {
            *value = constants[i].value;
            return CTR_OK;
        }
    }
    return CTR_E_INVALID_ARG;
}

CTR_API const char *ctr_constant_name(const char *group, int64_t value)
{
    int64_t i;
    if (group == NULL)
        return NULL;
    for (i = 0; i < CONSTANT_COUNT; i++) {
        if (constants[i].value == value && in_group(constants[i].name, group))
            return constants[i].name;
    }
    return NULL;
}

CTR_API int ctr_constant_at(int64_t index, const char **name, int64_t *value)
{
    if (name == NULL || value == NULL || index < 0 || index >= CONSTANT_COUNT)
        return CTR_E_INVALID_ARG;
    *name = constants[index].name;
    *value = constants[index].value;
    return CTR_OK;
}
