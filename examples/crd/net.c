/*
 * net.c - the teacher and student networks of examples/crd (net.h).
 */
#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int build_teacher(ctr_encoder **e, uint64_t seed)
{
    const int64_t dims[3] = {1, 28, 28};
    int rc = ctr_encoder_create(e, dims, 3, seed, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(*e, 16, 3, 1, 1, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(*e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(*e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_pool2d(*e, CTR_LAYER_MAXPOOL2D, 2, 2, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(*e, 32, 3, 1, 1, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(*e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(*e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_pool2d(*e, CTR_LAYER_MAXPOOL2D, 2, 2, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_flatten(*e);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(*e, TEACHER_FEAT, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(*e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(*e, CTR_LAYER_RELU);
    return rc;
}

static int build_student(ctr_encoder **e, int64_t hidden, uint64_t seed)
{
    const int64_t dims[1] = {28 * 28};
    int rc = ctr_encoder_create(e, dims, 1, seed, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(*e, hidden, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(*e, CTR_LAYER_RELU);
    return rc;
}

static int build_head(ctr_encoder **e, int64_t feat, uint64_t seed)
{
    int rc = ctr_encoder_create(e, &feat, 1, seed, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(*e, NET_CLASSES, 1);
    return rc;
}

static int make_opt(ctr_optimizer **o, ctr_encoder *e, double lr)
{
    int rc = ctr_optimizer_create_for_encoder(o, CTR_OPTIMIZER_ADAMW, e, NULL);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(*o, CTR_OPTIMIZER_P_LR, lr);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(*o, CTR_OPTIMIZER_P_WEIGHT_DECAY, 0.0);
    return rc;
}

static float *floats(int64_t n)
{
    return (float *)malloc((size_t)n * sizeof(float));
}

int net_create(net *n, int student, int64_t hidden, int64_t batch,
               uint64_t seed, double lr, char *err, size_t cap)
{
    int rc;
    memset(n, 0, sizeof(*n));
    n->feat = student ? hidden : TEACHER_FEAT;
    n->batch = batch;
    rc = student ? build_student(&n->body, hidden, seed) : build_teacher(&n->body, seed);
    if (rc == CTR_OK)
        rc = build_head(&n->head, n->feat, seed + 1);
    if (rc == CTR_OK && lr > 0)
        rc = make_opt(&n->obody, n->body, lr);
    if (rc == CTR_OK && lr > 0)
        rc = make_opt(&n->ohead, n->head, lr);
    n->f = floats(batch * n->feat), n->df = floats(batch * n->feat);
    n->df2 = floats(batch * n->feat), n->logits = floats(batch * NET_CLASSES);
    if (rc == CTR_OK && (!n->f || !n->df || !n->df2 || !n->logits))
        rc = CTR_E_NOMEM;
    if (rc != CTR_OK)
        snprintf(err, cap, "%s network: %s (%s)", student ? "student" : "teacher",
                 ctr_strerror(rc), ctr_encoder_last_error(n->body));
    return rc;
}

void net_destroy(net *n)
{
    ctr_optimizer_destroy(n->obody), ctr_optimizer_destroy(n->ohead);
    ctr_encoder_destroy(n->body), ctr_encoder_destroy(n->head);
    free(n->f), free(n->df), free(n->df2), free(n->logits);
    memset(n, 0, sizeof(*n));
}

int net_forward(net *n, const float *images, int64_t b)
{
    int rc = ctr_encoder_forward(n->body, n->f, images, b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_encoder_forward(n->head, n->logits, n->f, b, CTR_ENCODER_TRAIN);
    return rc;
}

int net_backward_step(net *n, const float *dlogits, const float *dfeat)
{
    int64_t i;
    int rc = ctr_encoder_zero_grad(n->body);
    if (rc == CTR_OK) rc = ctr_encoder_zero_grad(n->head);
    if (rc == CTR_OK) rc = ctr_encoder_backward(n->head, n->df, dlogits);
    for (i = 0; rc == CTR_OK && dfeat != NULL && i < n->batch * n->feat; i++)
        n->df[i] += dfeat[i];
    if (rc == CTR_OK) rc = ctr_encoder_backward(n->body, NULL, n->df);
    if (rc == CTR_OK) rc = ctr_optimizer_step(n->obody);
    if (rc == CTR_OK) rc = ctr_optimizer_step(n->ohead);
    return rc;
}

int net_eval(net *n, const float *images, int64_t count, float *feat,
             float *logits)
{
    const int32_t mode = CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD;
    int64_t i0;
    for (i0 = 0; i0 < count; i0 += n->batch) {
        const int64_t b = count - i0 < n->batch ? count - i0 : n->batch;
        int rc = ctr_encoder_forward(n->body, n->f, images + i0 * 28 * 28, b, mode);
        if (rc == CTR_OK && logits != NULL)
            rc = ctr_encoder_forward(n->head, logits + i0 * NET_CLASSES, n->f, b, mode);
        if (rc != CTR_OK)
            return rc;
        if (feat != NULL)
            memcpy(feat + i0 * n->feat, n->f, (size_t)(b * n->feat) * sizeof(float));
    }
    return CTR_OK;
}

double net_accuracy(net *n, const float *images, const int64_t *labels,
                    int64_t count)
{
    float *logits = floats(count * NET_CLASSES);
    int64_t i, j, correct = 0;
    if (logits == NULL || net_eval(n, images, count, NULL, logits) != CTR_OK) {
        free(logits);
        return -1.0;
    }
    for (i = 0; i < count; i++) {
        const float *l = logits + i * NET_CLASSES;
        int64_t best = 0;
        for (j = 1; j < NET_CLASSES; j++)
            best = l[j] > l[best] ? j : best;
        correct += best == labels[i];
    }
    free(logits);
    return (double)correct / (double)count;
}

int64_t net_params(const net *n)
{
    int64_t a = 0, b = 0;
    ctr_encoder_num_params(n->body, &a);
    ctr_encoder_num_params(n->head, &b);
    return a + b;
}

static const char *part_path(char *buf, size_t cap, const char *prefix, const char *part)
{
    snprintf(buf, cap, "%s.%s", prefix, part);
    return buf;
}

int net_save(const net *n, const char *prefix)
{
    char path[1100];
    int rc = ctr_encoder_save(n->body, part_path(path, sizeof(path), prefix, "body"));
    if (rc == CTR_OK)
        rc = ctr_encoder_save(n->head, part_path(path, sizeof(path), prefix, "head"));
    return rc;
}

int net_load(net *n, const char *prefix)
{
    char path[1100];
    ctr_encoder *body = NULL, *head = NULL;
    int rc = ctr_encoder_load(&body, part_path(path, sizeof(path), prefix, "body"), NULL);
    if (rc == CTR_OK)
        rc = ctr_encoder_load(&head, part_path(path, sizeof(path), prefix, "head"), NULL);
    if (rc == CTR_OK) /* the same architecture, or CTR_E_SHAPE */
        rc = ctr_encoder_copy_params(n->body, body, 1);
    if (rc == CTR_OK)
        rc = ctr_encoder_copy_params(n->head, head, 1);
    ctr_encoder_destroy(body), ctr_encoder_destroy(head);
    return rc;
}
