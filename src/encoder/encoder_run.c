/*
 * encoder_run.c - running an encoder: the workspace (each layer's output
 * and cache, two gradient buffers), forward in train or eval mode,
 * backward, the layer outputs and the memory query. Each layer's math is
 * its kind's table.
 */
#include <string.h>

#include "common/comm.h"
#include "common/parallel.h" /* the checks and copies of x, y, dy; zero_grad: split */
#include "common/vec.h"
#include "encoder/encoder.h"

#define WORK_ALIGN 16 /* floats: every workspace buffer starts on 64 bytes */

static int64_t output_size(const ctr_encoder *enc)
{
    return ctr__shape_size(ctr__encoder_output_shape(enc));
}

/* Reserves `floats` at *pos (rounded up to WORK_ALIGN), returning the offset. */
static int reserve(size_t *pos, size_t *offset, size_t floats)
{
    size_t p = (*pos + WORK_ALIGN - 1) / WORK_ALIGN * WORK_ALIGN;
    if (p < *pos || ctr__add_size(pos, p, floats) != CTR_OK)
        return CTR_E_OVERFLOW;
    *offset = p;
    return CTR_OK;
}

/* 1 when layer i writes the plane statistics of its output for the batch
 * norm after it in a train forward (ctr__layer_run.plane_stats): a conv2d
 * whose output planes have more than one value. */
static int makes_plane_stats(const ctr_encoder *enc, int64_t i)
{
    const ctr__layer *l = &enc->layers[i];
    return i + 1 < enc->n_layers && l->ops->makes_plane_stats &&
           enc->layers[i + 1].ops->takes_plane_stats && l->out.ndims == 3 &&
           l->out.d[1] * l->out.d[2] > 1;
}

/* 1 when layer i is a view of its input in the workspace (ops->is_view):
 * its output is layer i - 1's buffer, its forward and backward are
 * skipped. Not the first layer (an eval forward reads the host's x in
 * place), nor when a skip link reads layer i - 1's output (the link's
 * gradient is added to the view's dx). Layer i - 1's output is always
 * written: a fused batch norm's is not, but a ReLU follows it. */
static int is_view(const ctr_encoder *enc, int64_t i)
{
    int64_t j;
    if (i == 0 || !enc->layers[i].ops->is_view)
        return 0;
    for (j = i + 1; j < enc->n_layers; j++)
        if (enc->layers[j].ops->has_skip && enc->layers[j].hi[0] == i - 1)
            return 0;
    return 1;
}

static int read_through(const ctr_encoder *enc, int64_t i);

/* Lays out the workspace for n samples: the input copy, each layer's output
 * and cache, two gradient buffers. Writes offsets into the layers only when
 * `commit` is set; returns the total in *total. */
static int plan_workspace(ctr_encoder *enc, int64_t n, int commit, size_t *total)
{
    size_t pos = 0, off, floats, grads[2], prev_out = 0;
    int64_t i, widest = ctr__shape_size(&enc->input);
    int k;
    if (ctr__matrix_bytes(&floats, n, widest, 1) != CTR_OK ||
        reserve(&pos, &off, floats) != CTR_OK)
        return CTR_E_OVERFLOW;
    if (commit)
        enc->in_copy_offset = off;
    for (i = 0; i < enc->n_layers; i++) {
        ctr__layer *l = &enc->layers[i];
        const ctr__layer_ops *ops = l->ops;
        size_t out_off, cache_off, skip_off = 0, planes_off = 0, grads_off = 0, cache = 0;
        int64_t size = ctr__shape_size(&l->out);
        if (size > widest)
            widest = size;
        if (is_view(enc, i)) /* the output of layer i - 1 */
            out_off = prev_out;
        else if (ctr__matrix_bytes(&floats, n, size, 1) != CTR_OK ||
                 reserve(&pos, &out_off, floats) != CTR_OK)
            return CTR_E_OVERFLOW;
        prev_out = out_off;
        if (ctr__layer_cache_floats(l, n, enc->bn_groups, 0, &cache) != CTR_OK ||
            reserve(&pos, &cache_off, cache) != CTR_OK)
            return CTR_E_OVERFLOW;
        if (ops->has_skip && /* the gradient for its source, until backward gets there */
            (ctr__matrix_bytes(&floats, n, ctr__shape_size(&l->skip), 1) != CTR_OK ||
             reserve(&pos, &skip_off, floats) != CTR_OK))
            return CTR_E_OVERFLOW;
        if (makes_plane_stats(enc, i) && /* after in_copy: never offset 0 */
            (ctr__matrix_bytes(&floats, n, 2 * l->out.d[0], 1) != CTR_OK ||
             reserve(&pos, &planes_off, floats) != CTR_OK))
            return CTR_E_OVERFLOW;
        if (read_through(enc, i) && /* the sums of its dy's planes (backward_run) */
            (ctr__matrix_bytes(&floats, n, 2 * l->out.d[0], 1) != CTR_OK ||
             reserve(&pos, &grads_off, floats) != CTR_OK))
            return CTR_E_OVERFLOW;
        if (commit) {
            l->out_offset = out_off;
            l->cache_offset = cache_off;
            l->skip_grad_offset = skip_off;
            l->plane_stats_offset = planes_off;
            l->grad_stats_offset = grads_off;
        }
    }
    for (k = 0; k < 2; k++) {
        if (ctr__matrix_bytes(&floats, n, widest, 1) != CTR_OK ||
            reserve(&pos, &grads[k], floats) != CTR_OK)
            return CTR_E_OVERFLOW;
    }
    if (reserve(&pos, &off, (size_t)enc->n_stats) != CTR_OK)
        return CTR_E_OVERFLOW;
    if (commit) {
        enc->grad_offset[0] = grads[0];
        enc->grad_offset[1] = grads[1];
        enc->stats_copy_offset = off;
    }
    if (pos > SIZE_MAX / sizeof(float))
        return CTR_E_OVERFLOW;
    *total = pos;
    return CTR_OK;
}

static int ensure_workspace(ctr_encoder *enc, int64_t n)
{
    size_t total;
    float *work;
    int rc;
    if (enc->work != NULL && n <= enc->work_batch)
        return CTR_OK;
    rc = plan_workspace(enc, n, 0, &total);
    if (rc != CTR_OK)
        return ctr__fail(&enc->err, rc, "workspace for %lld samples overflows",
                         (long long)n);
    work = (float *)ctr__malloc(&enc->alloc, total * sizeof(float));
    if (work == NULL)
        return ctr__fail(&enc->err, CTR_E_NOMEM,
                         "cannot allocate the workspace for %lld samples", (long long)n);
    ctr__free(&enc->alloc, enc->work, enc->work_floats * sizeof(float));
    enc->stage = CTR__STAGE_NONE;
    plan_workspace(enc, n, 1, &total);
    enc->work = work;
    enc->work_floats = total;
    enc->work_batch = n;
    return CTR_OK;
}

static int check_batch(ctr_encoder *enc, int64_t n, int train)
{
    int64_t i;
    for (i = 0; i < enc->n_layers; i++) {
        const ctr__layer *l = &enc->layers[i];
        const ctr__layer_ops *ops = l->ops;
        int rc = CTR_OK;
        if (ops->check_batch != NULL)
            rc = ops->check_batch(l, n, enc->bn_groups, train, &enc->err);
        if (rc != CTR_OK)
            return rc;
    }
    return CTR_OK;
}

static ctr__layer_run layer_run(ctr_encoder *enc, const ctr__layer *l)
{
    ctr__layer_run r;
    memset(&r, 0, sizeof(r));
    r.n = enc->batch;
    r.groups = enc->bn_groups;
    r.y = enc->work + l->out_offset;
    r.w = enc->params == NULL ? NULL : enc->params + l->param_offset;
    r.gw = enc->grads == NULL ? NULL : enc->grads + l->param_offset;
    r.stat = enc->stats == NULL ? NULL : enc->stats + l->stat_offset;
    r.cache = enc->work + l->cache_offset;
    r.rng = &enc->gen;
    return r;
}

/* 1 when layer i (a kind with ops->fuses_relu: batch norm) and the ReLU
 * after it run as one pass: forward writes both outputs in one sweep,
 * backward reads the ReLU's gradient and output instead of making the
 * ReLU's dx (the same float operations, one pass less each way). Not when
 * a skip link also reads layer i's output (its gradient then has two
 * parts). The no-grad forward (encoder_infer.c) runs the layers apart. */
static int fused_with_relu(const ctr_encoder *enc, int64_t i)
{
    int64_t j;
    if (i + 1 >= enc->n_layers || !enc->layers[i].ops->fuses_relu ||
        enc->layers[i + 1].ops->kind != CTR_LAYER_RELU)
        return 0;
    for (j = i + 2; j < enc->n_layers; j++)
        if (enc->layers[j].ops->has_skip && enc->layers[j].hi[0] == i)
            return 0;
    return 1;
}

/* 1 when layer i also takes the global average pool after its fused ReLU
 * in a train step (ops->fuses_pool, layer.h's pool_y and pool_dy): image
 * planes of more than one value, and no skip link reading the ReLU's
 * output (it is not written). */
static int fused_with_pool(const ctr_encoder *enc, int64_t i)
{
    const ctr__layer *l = &enc->layers[i];
    int64_t j;
    if (!fused_with_relu(enc, i) || !l->ops->fuses_pool || i + 2 >= enc->n_layers ||
        enc->layers[i + 2].ops->kind != CTR_LAYER_GLOBAL_AVGPOOL || l->out.ndims != 3 ||
        l->out.d[1] * l->out.d[2] < 2)
        return 0;
    for (j = i + 3; j < enc->n_layers; j++)
        if (enc->layers[j].ops->has_skip && enc->layers[j].hi[0] == i + 1)
            return 0;
    return 1;
}

/* 1 when, in a train step, the batch norm i over image planes and its
 * ReLU i + 1 write no output and layer i + 2 (ops->reads_bn_relu: conv2d)
 * reads the ReLU's values through the batch norm's statistics from the
 * batch norm's input (layer.h's bn_in): one pass of reads and writes of
 * the activation less. Not when the pool is fused instead, nor when a skip
 * link reads the ReLU's output. */
static int read_through(const ctr_encoder *enc, int64_t i)
{
    const ctr__layer *l = &enc->layers[i];
    int64_t j;
    if (!fused_with_relu(enc, i) || fused_with_pool(enc, i) || l->ops->relu_input == NULL ||
        i + 2 >= enc->n_layers || !enc->layers[i + 2].ops->reads_bn_relu ||
        l->out.ndims != 3 || l->out.d[1] * l->out.d[2] < 2)
        return 0;
    for (j = i + 3; j < enc->n_layers; j++)
        if (enc->layers[j].ops->has_skip && enc->layers[j].hi[0] == i + 1)
            return 0;
    return 1;
}

/* The input of layer i in the last train forward. */
static const float *layer_input(const ctr_encoder *enc, int64_t i)
{
    if (i == 0)
        return enc->work + enc->in_copy_offset;
    return enc->work + enc->layers[i - 1].out_offset;
}

/* The forward's argument checks; *mode loses CTR_ENCODER_NO_GRAD, which
 * goes to *nograd; *in_floats is the input's size. */
static int forward_checks(ctr_encoder *enc, float *y, const float *x,
                          int64_t n, int32_t *mode, int *nograd,
                          size_t *in_floats)
{
    int rc;
    if ((rc = ctr__check_ptr(&enc->err, y, "y")) != CTR_OK ||
        (rc = ctr__check_ptr(&enc->err, x, "x")) != CTR_OK ||
        (rc = ctr__check_positive(&enc->err, n, "n")) != CTR_OK)
        return rc;
    *nograd = (*mode & CTR_ENCODER_NO_GRAD) != 0;
    *mode &= ~CTR_ENCODER_NO_GRAD;
    if (*mode != CTR_ENCODER_TRAIN && *mode != CTR_ENCODER_EVAL)
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG,
                         "mode must be CTR_ENCODER_TRAIN or CTR_ENCODER_EVAL, optionally "
                         "| CTR_ENCODER_NO_GRAD (got %d)", (int)(*mode | (*nograd ? CTR_ENCODER_NO_GRAD : 0)));
    if (ctr__matrix_bytes(in_floats, n, ctr__shape_size(&enc->input), sizeof(float)) != CTR_OK)
        return ctr__fail(&enc->err, CTR_E_OVERFLOW, "n = %lld is too large", (long long)n);
    *in_floats /= sizeof(float);
    if ((rc = check_batch(enc, n, *mode == CTR_ENCODER_TRAIN)) != CTR_OK ||
        (rc = ctr__par_check_finite(&enc->err, x, *in_floats, "x")) != CTR_OK)
        return rc;
    return CTR_OK;
}

/* The forward's last checks and its output: y = cur (count floats) when
 * cur and (train) the running statistics are finite, else nothing
 * written and the output's failure reported before the statistics'. The
 * statistics (a few floats) go first, so that the output's check and copy
 * run as one split pass. */
static int output_out(ctr_encoder *enc, float *y, const float *cur, int64_t count, int train)
{
    int stats_ok = !train || ctr__par_all_finite(enc->stats, enc->n_stats);
    int rc;
    if (stats_ok)
        return ctr__par_check_copy(&enc->err, y, cur, count, "forward: output");
    rc = ctr__check_finite(&enc->err, cur, (size_t)count, "forward: output");
    if (rc == CTR_OK)
        rc = ctr__check_finite(&enc->err, enc->stats, (size_t)enc->n_stats,
                               "forward: running statistics");
    return rc;
}

/* The forward after its checks (workspace ensured); sync: the
 * communicator of synchronised batch norm, or NULL. */
static int forward_run(ctr_encoder *enc, float *y, const float *x, int64_t n,
                       int32_t mode, size_t in_floats, ctr_comm *sync)
{
    const float *cur;
    float *planes = NULL; /* the plane statistics of the last output */
    ctr__bn_relu_in bn_in;
    int through = 0; /* the last layers were read_through: cur is their input */
    ctr__prng gen;
    int64_t i;
    int rc, sync_rc = CTR_OK;
    enc->batch = n;
    cur = x;
    gen = enc->gen;
    if (mode == CTR_ENCODER_TRAIN) {
        ctr__par_copy(enc->work + enc->in_copy_offset, x, (int64_t)in_floats);
        cur = enc->work + enc->in_copy_offset;
        if (enc->n_stats > 0)
            memcpy(enc->work + enc->stats_copy_offset, enc->stats,
                   (size_t)enc->n_stats * sizeof(float));
    }
    for (i = 0; i < enc->n_layers; i++) {
        const ctr__layer *l = &enc->layers[i];
        ctr__layer_run r = layer_run(enc, l);
        if (is_view(enc, i)) /* cur is its output */
            continue;
        r.train = mode == CTR_ENCODER_TRAIN;
        r.x = cur;
        r.sync = sync, r.sync_rc = &sync_rc;
        if (l->ops->has_skip)
            r.skip = l->hi[0] < 0 ? (mode == CTR_ENCODER_TRAIN ? layer_input(enc, 0) : x)
                                  : enc->work + enc->layers[l->hi[0]].out_offset;
        if (l->ops->takes_plane_stats) /* from the layer before, or NULL */
            r.plane_stats = planes;
        planes = NULL;
        if (mode == CTR_ENCODER_TRAIN && sync == NULL && l->plane_stats_offset != 0)
            r.plane_stats = planes = enc->work + l->plane_stats_offset;
        if (mode == CTR_ENCODER_TRAIN && fused_with_pool(enc, i)) /* and the pool */
            r.pool_y = enc->work + enc->layers[i + 2].out_offset;
        r.bn_in = through ? &bn_in : NULL;
        through = mode == CTR_ENCODER_TRAIN && read_through(enc, i);
        r.skip_output = through;
        if (fused_with_relu(enc, i))
            r.relu_y = enc->work + enc->layers[++i].out_offset; /* the ReLU is done too */
        i += r.pool_y != NULL;
        l->ops->forward(l, &r);
        if (through)
            l->ops->relu_input(l, &r, &bn_in);
        cur = through ? r.x : r.pool_y != NULL ? r.pool_y : r.relu_y != NULL ? r.relu_y : r.y;
    }
    /* Finite inputs can still overflow (weights of 1e30, say): that is
     * reported, and the state the forward changed (running statistics,
     * generator) is put back, so that no Inf or NaN is kept or saved. */
    rc = sync_rc != CTR_OK
             ? ctr__fail(&enc->err, sync_rc, "forward: synchronised batch norm: %s",
                         ctr_comm_last_error(sync))
             : output_out(enc, y, cur, n * output_size(enc),
                          mode == CTR_ENCODER_TRAIN);
    if (rc != CTR_OK) {
        if (mode == CTR_ENCODER_TRAIN && enc->n_stats > 0)
            memcpy(enc->stats, enc->work + enc->stats_copy_offset,
                   (size_t)enc->n_stats * sizeof(float));
        enc->gen = gen;
        enc->stage = CTR__STAGE_NONE;
        return rc;
    }
    enc->stage = mode;
    enc->synced = sync != NULL;
    return CTR_OK;
}

CTR_API int ctr_encoder_forward(ctr_encoder *enc, float *y, const float *x,
                                int64_t n, int32_t mode)
{
    size_t in_floats = 0;
    int rc, nograd = 0;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    if ((rc = forward_checks(enc, y, x, n, &mode, &nograd, &in_floats)) != CTR_OK)
        return rc;
    if (nograd)
        return ctr__encoder_forward_nograd(enc, y, x, n, mode == CTR_ENCODER_TRAIN);
    if ((rc = ensure_workspace(enc, n)) != CTR_OK)
        return rc;
    return forward_run(enc, y, x, n, mode, in_floats, NULL);
}

/* The agreement of a synchronised call: this rank's status (its message
 * copied to the comm) and the shapes every rank must share. */
static int sync_agree(ctr_comm *comm, const ctr_encoder *enc, int rc,
                      int64_t n, int64_t flag)
{
    static const char *const names[] = {"n", "the parameter count",
                                        "the statistics count",
                                        "the layer count", "dx requested"};
    int64_t vals[5] = {n, enc->n_params, enc->n_stats, enc->n_layers, flag};
    if (rc != CTR_OK)
        ctr__fail(&comm->err, rc, "%s", ctr__error_message(&enc->err));
    return ctr__comm_agree(comm, rc, vals, 5, 5, names);
}

int ctr__encoder_forward_synced(ctr_encoder *enc, float *y, const float *x,
                                int64_t n, ctr_comm *comm)
{
    int32_t mode = CTR_ENCODER_TRAIN;
    size_t in_floats = 0;
    int rc, nograd = 0;
    ctr__error_clear(&enc->err);
    rc = forward_checks(enc, y, x, n, &mode, &nograd, &in_floats);
    if (rc == CTR_OK && enc->bn_groups != 1)
        rc = ctr__fail(&enc->err, CTR_E_INVALID_ARG,
                       "synchronised batch norm needs CTR_ENCODER_P_BN_GROUPS = 1 "
                       "(got %lld)", (long long)enc->bn_groups);
    if (rc == CTR_OK)
        rc = ensure_workspace(enc, n);
    rc = sync_agree(comm, enc, rc, n, 0);
    if (rc != CTR_OK)
        return rc;
    return forward_run(enc, y, x, n, mode, in_floats, comm);
}

/* dx (the gradient of layer i's input, the output of layer i - 1) +=
 * the gradient every later layer with a skip link from layer i - 1 left
 * for its source. */
static void add_skip_grads(const ctr_encoder *enc, float *dx, int64_t i)
{
    int64_t j, e, count = enc->batch * ctr__shape_size(&enc->layers[i].in);
    for (j = i + 1; j < enc->n_layers; j++) {
        const ctr__layer *l = &enc->layers[j];
        const float *g = enc->work + l->skip_grad_offset;
        if (!l->ops->has_skip || l->hi[0] != i - 1)
            continue;
        CTR__VEC_FOR(e, count, dx[e] += g[e]);
    }
}

/* The backward's checks: a train forward of the same kind (synchronised
 * or not) before it, dy finite. */
static int backward_checks(ctr_encoder *enc, const float *dy, int synced)
{
    int rc;
    if ((rc = ctr__check_ptr(&enc->err, dy, "dy")) != CTR_OK)
        return rc;
    if (enc->stage == CTR_ENCODER_TRAIN && enc->synced != synced)
        return ctr__fail(&enc->err, CTR_E_STAGE,
                         synced ? "ctr_comm_encoder_backward after a forward that "
                                  "was not synchronised"
                                : "the backward of ctr_comm_encoder_forward must be "
                                  "ctr_comm_encoder_backward");
    if (enc->stage == CTR__STAGE_NONE)
        return ctr__fail(&enc->err, CTR_E_STAGE, "backward before any forward");
    if (enc->stage == CTR__STAGE_NOGRAD)
        return ctr__fail(&enc->err, CTR_E_STAGE,
                         "backward after a no-grad forward (nothing kept)");
    if (enc->stage != CTR_ENCODER_TRAIN)
        return ctr__fail(&enc->err, CTR_E_STAGE,
                         "backward after an eval-mode forward (nothing cached)");
    return ctr__par_check_finite(&enc->err, dy, (size_t)(enc->batch * output_size(enc)), "dy");
}

/* The bias gradient of a linear layer summed by the
 * layer after it (ops->sums_dx: batch norm) while it writes the linear's
 * dy (ctr__layer_run.dx_colsum): layer i's target, or NULL when layer
 * i - 1 is no linear layer with bias or a skip link also feeds its dy. */
static float *bias_grad_of_previous(const ctr_encoder *enc, int64_t i)
{
    const ctr__layer *prev = i > 0 ? &enc->layers[i - 1] : NULL;
    int64_t j;
    if (prev == NULL || !enc->layers[i].ops->sums_dx || prev->ops->kind != CTR_LAYER_LINEAR ||
        prev->hi[1] == 0 || enc->grads == NULL)
        return NULL;
    for (j = i + 1; j < enc->n_layers; j++)
        if (enc->layers[j].ops->has_skip && enc->layers[j].hi[0] == i - 1)
            return NULL;
    return enc->grads + prev->param_offset + prev->param_count - prev->hi[0];
}

/* 1 when the batch norm i over image planes leaves its dx unwritten in a
 * backward and layer i - 1 (ops->takes_bn_dx: conv2d on its GEMM path)
 * makes its dy plane by plane from the batch norm (layer.h's bn_dx): one
 * pass of writes and reads of the activation less. Not when a skip link
 * adds to that dy, nor with synchronised batch norm. */
static int dx_made_before(const ctr_encoder *enc, int64_t i, ctr_comm *sync)
{
    const ctr__layer *l = &enc->layers[i];
    int64_t j;
    if (sync != NULL || i < 1 || l->ops->plane_dx == NULL ||
        enc->layers[i - 1].ops->takes_bn_dx == NULL ||
        !enc->layers[i - 1].ops->takes_bn_dx(&enc->layers[i - 1]) || l->out.ndims != 3 ||
        l->out.d[1] * l->out.d[2] < 2)
        return 0;
    for (j = i + 1; j < enc->n_layers; j++)
        if (enc->layers[j].ops->has_skip && enc->layers[j].hi[0] == i - 1)
            return 0;
    return 1;
}

/* With conv2d i reading the batch norm i - 2 and its ReLU through in the
 * forward (read_through), its backward takes the batch norm's sums over
 * the planes of its dx (layer.h's grad_sums; not synchronised): *sums and
 * *bn_run are set up for it, and the batch norm's backward gets the same
 * grad_stats. */
static void sums_for_batch_norm(ctr_encoder *enc, int64_t i, ctr__layer_run *r,
                                ctr__layer_run *bn_run, ctr__bn_dx *sums)
{
    const ctr__layer *bn;
    if (i < 2 || r->dx == NULL || r->sync != NULL || !read_through(enc, i - 2) ||
        enc->layers[i - 2].ops->plane_grad_sums == NULL)
        return;
    bn = &enc->layers[i - 2];
    *bn_run = layer_run(enc, bn);
    bn_run->x = layer_input(enc, i - 2);
    bn_run->relu_mask = enc->work + enc->layers[i - 1].out_offset; /* a flag */
    sums->l = bn;
    sums->r = bn_run;
    r->grad_sums = sums;
    r->grad_stats = enc->work + bn->grad_stats_offset;
}

static int backward_run(ctr_encoder *enc, float *dx, const float *dy,
                        ctr_comm *sync)
{
    const float *g;
    ctr__layer_run bn_run, sums_run; /* the batch norms' calls */
    ctr__bn_dx bn_dx, sums;
    float *grad_stats = NULL; /* for the next layer: a batch norm */
    int64_t i;
    int k = 0, sync_rc = CTR_OK, bias_done = 0, made = 0;
    g = dy;
    for (i = enc->n_layers - 1; i >= 0; i--) {
        const float *pool_dy = i > 1 && fused_with_pool(enc, i - 2) ? g : NULL;
        const float *relu_y = NULL;
        if (is_view(enc, i)) /* g is its dx */
            continue;
        if (pool_dy != NULL) /* the pool i: its batch norm i - 2 takes g */
            i--;
        if (i > 0 && fused_with_relu(enc, i - 1))
            relu_y = enc->work + enc->layers[i--].out_offset; /* ReLU i */
        const ctr__layer *l = &enc->layers[i];
        ctr__layer_run r = layer_run(enc, l);
        r.relu_mask = relu_y;
        r.x = layer_input(enc, i);
        r.dy = pool_dy != NULL ? NULL : g;
        r.pool_dy = pool_dy;
        r.dx = i == 0 ? dx : enc->work + enc->grad_offset[k];
        r.sync = sync, r.sync_rc = &sync_rc;
        if (l->ops->has_skip)
            r.dskip = enc->work + l->skip_grad_offset;
        r.bias_grad_done = bias_done; /* summed by the layer after it */
        r.dx_colsum = bias_grad_of_previous(enc, i);
        bias_done = r.dx_colsum != NULL;
        if (made) { /* dy from the batch norm after it */
            r.dy = NULL;
            r.bn_dx = &bn_dx;
        }
        made = r.dx != NULL && dx_made_before(enc, i, sync);
        r.skip_dx = made;
        r.grad_stats = grad_stats;
        sums_for_batch_norm(enc, i, &r, &sums_run, &sums);
        grad_stats = r.grad_sums != NULL ? r.grad_stats : NULL;
        l->ops->backward(l, &r);
        if (made) { /* its dx buffer is the next layer's: g is still read */
            bn_run = r;
            bn_dx.l = l;
            bn_dx.r = &bn_run;
            continue;
        }
        if (r.dx != NULL)
            add_skip_grads(enc, r.dx, i);
        g = r.dx;
        k ^= 1;
    }
    if (enc->n_layers == 0 && dx != NULL)
        memcpy(dx, dy, (size_t)(enc->batch * output_size(enc)) * sizeof(float));
    if (sync_rc != CTR_OK)
        return ctr__fail(&enc->err, sync_rc, "backward: synchronised batch norm: %s",
                         ctr_comm_last_error(sync));
    return CTR_OK;
}

CTR_API int ctr_encoder_backward(ctr_encoder *enc, float *dx, const float *dy)
{
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    if ((rc = backward_checks(enc, dy, 0)) != CTR_OK)
        return rc;
    return backward_run(enc, dx, dy, NULL);
}

int ctr__encoder_backward_synced(ctr_encoder *enc, float *dx, const float *dy,
                                 ctr_comm *comm)
{
    int rc;
    ctr__error_clear(&enc->err);
    rc = backward_checks(enc, dy, 1);
    rc = sync_agree(comm, enc, rc, rc == CTR_OK ? enc->batch : 0, dx != NULL);
    if (rc != CTR_OK)
        return rc;
    return backward_run(enc, dx, dy, comm);
}

CTR_API int ctr_encoder_zero_grad(ctr_encoder *enc)
{
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    if (enc->n_params > 0)
        ctr__par_zero(enc->grads, enc->n_params);
    return CTR_OK;
}

CTR_API int ctr_encoder_layer_output(ctr_encoder *enc, float *out, int64_t layer)
{
    const ctr__layer *l;
    int rc, relu;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&enc->err);
    if ((rc = ctr__check_ptr(&enc->err, out, "out")) != CTR_OK)
        return rc;
    if (layer != CTR_ENCODER_OUTPUT && (layer < 0 || layer >= enc->n_layers))
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG,
                         "layer must be in [0, %lld) or CTR_ENCODER_OUTPUT (got %lld)",
                         (long long)enc->n_layers, (long long)layer);
    layer = ctr__encoder_layer_index(enc, layer);
    if (layer < 0)
        return ctr__fail(&enc->err, CTR_E_INVALID_ARG, "the encoder has no layers");
    if (enc->stage == CTR__STAGE_NONE)
        return ctr__fail(&enc->err, CTR_E_STAGE, "no forward has run");
    if (enc->stage == CTR__STAGE_NOGRAD)
        return ctr__fail(&enc->err, CTR_E_STAGE,
                         "the last forward was no-grad: layer outputs are not kept");
    relu = enc->stage == CTR_ENCODER_TRAIN && layer > 0 &&
           (fused_with_pool(enc, layer - 1) || read_through(enc, layer - 1));
    layer -= relu; /* the ReLU's output (not written) from its batch norm's */
    l = &enc->layers[layer];
    if (enc->stage == CTR_ENCODER_TRAIN && fused_with_relu(enc, layer) &&
        l->ops->fused_output != NULL) { /* its output may not have been written */
        ctr__layer_run r = layer_run(enc, l);
        r.train = 1;
        r.x = layer_input(enc, layer);
        r.relu_y = enc->work + enc->layers[layer + 1].out_offset;
        l->ops->fused_output(l, &r, out, relu);
        return CTR_OK;
    }
    memcpy(out, enc->work + l->out_offset,
           (size_t)(enc->batch * ctr__shape_size(&l->out)) * sizeof(float));
    return CTR_OK;
}

/* The shared checks of the size queries on a const encoder. */
static int check_query(const ctr_encoder *enc, const size_t *bytes, int64_t batch)
{
    if (bytes == NULL)
        return ctr__const_fail(&enc->err, CTR_E_INVALID_ARG, "bytes is NULL");
    if (batch < 1)
        return ctr__const_fail(&enc->err, CTR_E_INVALID_ARG,
                               "batch must be >= 1, got %lld", (long long)batch);
    return CTR_OK;
}

static int overflows(const ctr_encoder *enc, int64_t batch)
{
    return ctr__const_fail(&enc->err, CTR_E_OVERFLOW,
                           "the sizes for a batch of %lld overflow", (long long)batch);
}

CTR_API int ctr_encoder_memory(const ctr_encoder *enc, size_t *bytes, int64_t batch)
{
    size_t work, fixed, layers, total;
    int rc;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    rc = check_query(enc, bytes, batch);
    if (rc != CTR_OK)
        return rc;
    rc = plan_workspace((ctr_encoder *)enc, batch, 0, &work);
    if (rc != CTR_OK)
        return overflows(enc, batch);
    /* parameters and gradients, statistics, layers, the handle, workspace */
    if (ctr__matrix_bytes(&fixed, 2, enc->n_params, sizeof(float)) != CTR_OK ||
        ctr__matrix_bytes(&layers, enc->n_stats, 1, sizeof(float)) != CTR_OK ||
        ctr__add_size(&fixed, fixed, layers) != CTR_OK ||
        ctr__matrix_bytes(&layers, enc->cap_layers, 1, sizeof(ctr__layer)) != CTR_OK ||
        ctr__add_size(&fixed, fixed, layers) != CTR_OK ||
        ctr__add_size(&fixed, fixed, sizeof(*enc)) != CTR_OK ||
        ctr__mul_size(&work, work, sizeof(float)) != CTR_OK ||
        ctr__add_size(&total, work, fixed) != CTR_OK)
        return overflows(enc, batch);
    *bytes = total;
    return ctr__const_result(&enc->err, CTR_OK, NULL);
}

CTR_API int ctr_encoder_workspace_size(const ctr_encoder *enc, size_t *bytes,
                                       int64_t batch, int32_t mode)
{
    size_t work;
    int rc, base = mode & ~CTR_ENCODER_NO_GRAD;
    if (enc == NULL)
        return CTR_E_INVALID_ARG;
    rc = check_query(enc, bytes, batch);
    if (rc != CTR_OK)
        return rc;
    if (base != CTR_ENCODER_TRAIN && base != CTR_ENCODER_EVAL)
        return ctr__const_fail(&enc->err, CTR_E_INVALID_ARG,
                               "mode %d is neither CTR_ENCODER_TRAIN nor CTR_ENCODER_EVAL "
                               "(optionally | CTR_ENCODER_NO_GRAD)", (int)mode);
    if (mode & CTR_ENCODER_NO_GRAD)
        rc = ctr__encoder_nograd_bytes(enc, batch, bytes);
    else if ((rc = plan_workspace((ctr_encoder *)enc, batch, 0, &work)) == CTR_OK)
        rc = ctr__mul_size(bytes, work, sizeof(float)); /* plan with commit 0: reads only */
    return rc == CTR_OK ? ctr__const_result(&enc->err, CTR_OK, NULL) : overflows(enc, batch);
}
