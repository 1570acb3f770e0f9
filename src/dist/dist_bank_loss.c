/*
 * dist_bank_loss.c - the parts the losses over a sharded bank share
 * (dist_bank_loss.h): checks and agreement, the gathered anchors, and the
 * gradient rows of this rank.
 */
#include <string.h>

#include "common/kernels.h"
#include "dist/dist_bank_loss.h"

static int call_status(ctr_comm *c, const ctr__bank_call *k, int32_t kind)
{
    int rc;
    if (k->obj == NULL || ctr_objective_kind(k->obj) != kind)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "obj must be an objective of kind %s",
                         ctr_constant_name("CTR_OBJECTIVE_", kind));
    if (k->loss == NULL || k->z == NULL || k->b < 1 || k->d < 1 ||
        k->ldz < k->d)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "loss and z must be set, b and d >= 1, ldz >= d");
    rc = ctr__shard_check(c, k->shard, k->n, k->d);
    if (rc == CTR_OK)
        rc = ctr__check_finite_matrix(&c->err, k->z, k->b, k->d, k->ldz, "z");
    if (rc == CTR_OK)
        rc = ctr__shard_check_indices(c, k->self_idx, k->b, k->n, "self_idx");
    if (rc == CTR_OK && k->b > INT64_MAX / c->size / (k->d + 8))
        rc = ctr__fail(&c->err, CTR_E_OVERFLOW, "size x b x d overflows");
    return rc;
}

int ctr__bank_call_begin(ctr_comm *c, ctr__bank_call *k, int32_t kind,
                         int extra_status, int64_t extra, size_t ws_bytes,
                         const char *extra_name)
{
    const char *names[5] = {"b", "d", "n", "gradients requested", NULL};
    int64_t vals[5];
    int rc = call_status(c, k, kind);
    names[4] = extra_name;
    if (rc == CTR_OK)
        rc = extra_status;
    if (rc == CTR_OK)
        rc = ctr__comm_reserve(c, ws_bytes);
    vals[0] = k->b, vals[1] = k->d, vals[2] = k->n;
    vals[3] = k->grad_z != NULL, vals[4] = rc == CTR_OK ? extra : 0;
    rc = ctr__comm_agree(c, rc, vals, 5, 5, names);
    if (rc != CTR_OK)
        return rc;
    k->big = k->b * c->size;
    ctr__shard_range(c, k->n, c->rank, &k->first, &k->count);
    ctr_bank_rows(k->shard, &k->rows, NULL, NULL);
    return CTR_OK;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
    return h * 0xbf58476d1ce4e5b9u;
}

int64_t ctr__bank_obj_fingerprint(const ctr_objective *obj)
{
    uint64_t h = 0;
    h = mix(h, (uint64_t)ctr__comm_f64_bits(obj->temperature));
    h = mix(h, (uint64_t)obj->normalize);
    h = mix(h, (uint64_t)obj->nce_z_mode);
    h = mix(h, (uint64_t)ctr__comm_f64_bits(obj->nce_momentum));
    h = mix(h, (uint64_t)obj->has_log_z);
    h = mix(h, (uint64_t)ctr__comm_f64_bits(obj->has_log_z ? obj->log_z : 0.0));
    return (int64_t)(h >> 1);
}

int ctr__bank_gather_anchors(ctr_comm *c, const ctr__bank_call *k,
                             float *zsend, float *zall, float *qs, float *inv,
                             const char *what)
{
    const float inv_tau = (float)(1.0 / k->obj->temperature);
    int rc;
    ctr__copy_scaled(zsend, k->z, k->b, k->d, k->ldz, 1.0f);
    rc = ctr__comm_allgather_f32(c, zsend, zall, k->b * k->d, what);
    if (rc != CTR_OK)
        return rc;
    if (k->obj->normalize)
        ctr__normalize_rows(qs, zall, k->big, k->d, k->d, inv_tau, inv);
    else
        ctr__copy_scaled(qs, zall, k->big, k->d, k->d, inv_tau);
    return CTR_OK;
}

void ctr__bank_own_grads(const ctr_comm *c, const ctr__bank_call *k,
                         const float *acc, const float *qs, const float *inv)
{
    const double tau = k->obj->temperature;
    const int64_t off = c->rank * k->b * k->d;
    memcpy(k->grad_z, acc + off, (size_t)(k->b * k->d) * sizeof(float));
    ctr__vscale(k->grad_z, (float)(1.0 / ((double)k->big * tau)), k->b * k->d);
    if (k->obj->normalize)
        ctr__normalize_backward(k->grad_z, qs + off, k->d, (float)(1.0 / tau),
                                inv + c->rank * k->b, k->b, k->d);
}
