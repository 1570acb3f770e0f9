/*
 * check_objective_golden.c - the objectives against PyTorch's numbers for
 * the reference formulations of MoCo, SimCLR, N-pair (Sohn), NCE (Wu et
 * al.) and lemniscate's full softmax: tests/data/objectives_golden.txt,
 * written by tests/gen_objectives.py (inputs included).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define MAX_FIELDS 16

typedef struct field {
    char key[32];
    double *v;
    int64_t n;
} field;

typedef struct golden {
    field f[MAX_FIELDS];
    int count;
} golden;

static FILE *open_data(void)
{
    const char *dir = getenv("CTR_TEST_DATA");
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/objectives_golden.txt",
             dir != NULL ? dir : "tests/data");
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    return f;
}

/* Parses one "key v1 v2 ..." line into a field. */
static void parse_field(field *fl, char *line)
{
    char *save = NULL, *tok = strtok_r(line, " \n", &save);
    int64_t cap = 16;
    snprintf(fl->key, sizeof(fl->key), "%s", tok);
    fl->v = (double *)malloc((size_t)cap * sizeof(double));
    fl->n = 0;
    while ((tok = strtok_r(NULL, " \n", &save)) != NULL) {
        if (fl->n == cap) {
            cap *= 2;
            fl->v = (double *)realloc(fl->v, (size_t)cap * sizeof(double));
        }
        fl->v[fl->n++] = strtod(tok, NULL);
    }
}

static void load_case(golden *g, const char *name)
{
    static char line[1 << 17];
    FILE *f = open_data();
    int in_case = 0;
    g->count = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "case ", 5) == 0) {
            line[strcspn(line, "\n")] = '\0';
            in_case = strcmp(line + 5, name) == 0;
        } else if (strncmp(line, "end", 3) == 0) {
            if (in_case)
                break;
        } else if (in_case && line[0] != '#') {
            ck_assert_int_lt(g->count, MAX_FIELDS);
            parse_field(&g->f[g->count++], line);
        }
    }
    fclose(f);
    ck_assert_msg(g->count > 0, "case %s not found", name);
}

static const field *get(const golden *g, const char *key)
{
    int i;
    for (i = 0; i < g->count; i++)
        if (strcmp(g->f[i].key, key) == 0)
            return &g->f[i];
    ck_abort_msg("field %s missing", key);
    return NULL;
}

static double scalar(const golden *g, const char *key)
{
    return get(g, key)->v[0];
}

static float *floats(const golden *g, const char *key)
{
    const field *fl = get(g, key);
    float *x = (float *)malloc((size_t)fl->n * sizeof(float));
    int64_t i;
    for (i = 0; i < fl->n; i++)
        x[i] = (float)fl->v[i];
    return x;
}

static int64_t *indices(const golden *g, const char *key)
{
    const field *fl = get(g, key);
    int64_t *x = (int64_t *)malloc((size_t)fl->n * sizeof(int64_t));
    int64_t i;
    for (i = 0; i < fl->n; i++)
        x[i] = (int64_t)fl->v[i];
    return x;
}

static void free_golden(golden *g)
{
    int i;
    for (i = 0; i < g->count; i++)
        free(g->f[i].v);
}

/* got (float) against a golden gradient: relative to the largest entry. */
static void expect_grad(const float *got, const golden *g, const char *key)
{
    const field *fl = get(g, key);
    double scale = 0;
    int64_t i;
    for (i = 0; i < fl->n; i++)
        scale = fabs(fl->v[i]) > scale ? fabs(fl->v[i]) : scale;
    for (i = 0; i < fl->n; i++)
        ck_assert_msg(fabs(got[i] - fl->v[i]) <= 1e-4 * scale + 1e-4 * fabs(fl->v[i]),
                      "%s[%lld] = %.8g, PyTorch %.8g", key, (long long)i,
                      (double)got[i], fl->v[i]);
}

static ctr_objective *make(int32_t kind, double tau, int normalize)
{
    ctr_objective *obj = NULL;
    ck_assert_int_eq(ctr_objective_create(&obj, kind, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, tau), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, normalize), CTR_OK);
    return obj;
}

START_TEST(test_moco_queue)
{
    golden g;
    int64_t b, d, k;
    float *q, *key, *queue, gq[256], gk[256];
    ctr_objective *obj;
    double loss;
    load_case(&g, "moco");
    b = (int64_t)scalar(&g, "b"), d = (int64_t)scalar(&g, "d"), k = (int64_t)scalar(&g, "k");
    q = floats(&g, "q"), key = floats(&g, "key"), queue = floats(&g, "queue");
    obj = make(CTR_OBJECTIVE_INFONCE_SHARED, scalar(&g, "tau"), 0);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE, 16), CTR_OK);
    ck_assert_int_eq(ctr_objective_infonce_shared(obj, &loss, q, d, key, d, b, d, queue, d, k,
                                                  NULL, NULL, gq, gk, NULL), CTR_OK);
    ck_assert_close(loss, scalar(&g, "loss"), 1e-5, 1e-6);
    expect_grad(gq, &g, "grad_q");
    expect_grad(gk, &g, "grad_key");
    ctr_objective_destroy(obj);
    free(q), free(key), free(queue);
    free_golden(&g);
}
END_TEST

START_TEST(test_simclr_ntxent)
{
    golden g;
    int64_t b, d;
    float *z1, *z2, g1[256], g2[256];
    ctr_objective *obj;
    double loss;
    load_case(&g, "simclr");
    b = (int64_t)scalar(&g, "b"), d = (int64_t)scalar(&g, "d");
    z1 = floats(&g, "z1"), z2 = floats(&g, "z2");
    obj = make(CTR_OBJECTIVE_NTXENT, scalar(&g, "tau"), 1);
    ck_assert_int_eq(ctr_objective_ntxent(obj, &loss, z1, d, z2, d, b, d, NULL, g1, g2), CTR_OK);
    ck_assert_close(loss, scalar(&g, "loss"), 1e-5, 1e-6);
    expect_grad(g1, &g, "grad_z1");
    expect_grad(g2, &g, "grad_z2");
    ctr_objective_destroy(obj);
    free(z1), free(z2);
    free_golden(&g);
}
END_TEST

START_TEST(test_npair_sohn)
{
    golden g;
    int64_t b, d;
    float *a, *p, ga[256], gp[256];
    ctr_objective *obj;
    double loss;
    load_case(&g, "npair");
    b = (int64_t)scalar(&g, "b"), d = (int64_t)scalar(&g, "d");
    a = floats(&g, "a"), p = floats(&g, "p");
    obj = make(CTR_OBJECTIVE_NPAIR, 1.0, 0);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_NPAIR_LAMBDA, scalar(&g, "lam")), CTR_OK);
    ck_assert_int_eq(ctr_objective_npair(obj, &loss, a, d, p, d, b, d, ga, gp), CTR_OK);
    ck_assert_close(loss, scalar(&g, "loss"), 1e-5, 1e-6);
    expect_grad(ga, &g, "grad_a");
    expect_grad(gp, &g, "grad_p");
    ctr_objective_destroy(obj);
    free(a), free(p);
    free_golden(&g);
}
END_TEST

START_TEST(test_nce_wu)
{
    golden g;
    int64_t b, d, n, k, *self_idx, *noise_idx;
    float *x, *bank, gx[256];
    ctr_objective *obj;
    double loss, z;
    load_case(&g, "nce");
    b = (int64_t)scalar(&g, "b"), d = (int64_t)scalar(&g, "d");
    n = (int64_t)scalar(&g, "n"), k = (int64_t)scalar(&g, "k");
    x = floats(&g, "x"), bank = floats(&g, "bank");
    self_idx = indices(&g, "self_idx"), noise_idx = indices(&g, "noise_idx");
    obj = make(CTR_OBJECTIVE_NCE, scalar(&g, "tau"), 0);
    ck_assert_int_eq(ctr_objective_nce(obj, &loss, x, d, b, d, bank, d, n, self_idx, noise_idx,
                                       k, gx), CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_NCE_Z, &z), CTR_OK);
    ck_assert_close(z, scalar(&g, "z"), 1e-5, 0);
    ck_assert_close(loss, scalar(&g, "loss"), 1e-5, 1e-6);
    expect_grad(gx, &g, "grad_x");
    /* a second call keeps Z (paper) and takes the fused path: same numbers */
    ck_assert_int_eq(ctr_objective_nce(obj, &loss, x, d, b, d, bank, d, n, self_idx, noise_idx,
                                       k, gx), CTR_OK);
    ck_assert_close(loss, scalar(&g, "loss"), 1e-5, 1e-6);
    expect_grad(gx, &g, "grad_x");
    ctr_objective_destroy(obj);
    free(x), free(bank), free(self_idx), free(noise_idx);
    free_golden(&g);
}
END_TEST

START_TEST(test_bank_softmax_lemniscate)
{
    golden g;
    int64_t b, d, n, *self_idx;
    float *x, *bank, gx[256];
    ctr_objective *obj;
    double loss;
    load_case(&g, "softmax");
    b = (int64_t)scalar(&g, "b"), d = (int64_t)scalar(&g, "d"), n = (int64_t)scalar(&g, "n");
    x = floats(&g, "x"), bank = floats(&g, "bank"), self_idx = indices(&g, "self_idx");
    obj = make(CTR_OBJECTIVE_BANK_SOFTMAX, scalar(&g, "tau"), 0);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE, 8), CTR_OK);
    ck_assert_int_eq(ctr_objective_bank_softmax(obj, &loss, x, d, b, d, bank, d, n, self_idx, gx),
                     CTR_OK);
    ck_assert_close(loss, scalar(&g, "loss"), 1e-5, 1e-6);
    expect_grad(gx, &g, "grad_x");
    ctr_objective_destroy(obj);
    free(x), free(bank), free(self_idx);
    free_golden(&g);
}
END_TEST

Suite *ctr_test_objective_golden_suite(void);

Suite *ctr_test_objective_golden_suite(void)
{
    Suite *s = suite_create("objective_golden");
    TCase *tc = tcase_create("pytorch");
    tcase_add_test(tc, test_moco_queue);
    tcase_add_test(tc, test_simclr_ntxent);
    tcase_add_test(tc, test_npair_sohn);
    tcase_add_test(tc, test_nce_wu);
    tcase_add_test(tc, test_bank_softmax_lemniscate);
    suite_add_tcase(s, tc);
    return s;
}
