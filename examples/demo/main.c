/*
 * main.c - contrastive-demo: learn Fashion-MNIST features without labels,
 * evaluate them as the papers do (weighted kNN on the embeddings, a linear
 * probe on the frozen backbone), and write a report. Uses only the public API.
 * demo_run is the whole program; entry.c calls it for one process,
 * examples/demo-mpi/main.c for each rank of a data-parallel run (rank 0
 * evaluates and reports, the other ranks train and wait).
 */
#define _POSIX_C_SOURCE 200809L

#include <contrastive.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "fmnist.h"
#include "options.h"
#include "report.h"
#include "trainer.h"

#define MONITOR_TRAIN 10000 /* training images the per-epoch kNN compares to */
#define MONITOR_TEST 2000   /* test images the per-epoch metrics use */
#define METRIC_SAMPLE 2000  /* rows for alignment / uniformity */
/* The probe's L2 penalty, chosen on a held-out split of the training set
 * (docs/results.md: 1e-4 0.895, 1e-3 0.905, 3e-3 0.908, 1e-2 0.906). */
#define PROBE_L2 3e-3

/* The host owns BLAS threads; these exist when the BLAS is linked. */
extern void openblas_set_num_threads(int) __attribute__((weak));
extern void bli_thread_set_num_threads(long) __attribute__((weak));

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int die(const char *what, const char *msg)
{
    fprintf(stderr, "contrastive-demo: %s: %s\n", what, msg);
    return 1;
}

static void set_threads(int n)
{
    if (n <= 0)
        return;
    if (openblas_set_num_threads != NULL)
        openblas_set_num_threads(n);
    if (bli_thread_set_num_threads != NULL)
        bli_thread_set_num_threads(n);
}

/* ---- across ranks (comm NULL: one process, each call a no-op) ---------------------- */

static int is_root(ctr_comm *comm)
{
    int64_t rank = 0;
    return comm == NULL || (ctr_comm_rank(comm, &rank) == CTR_OK && rank == 0);
}

/* rc (0 or not) agreed by every rank: any rank's failure fails them all,
 * so that no rank waits for a collective the others will not make. */
static int all_ok(ctr_comm *comm, int rc)
{
    int64_t bad = rc != 0;
    if (comm == NULL)
        return rc;
    if (ctr_comm_allreduce_i64(comm, &bad, 1) != CTR_OK)
        return die("communicator", ctr_comm_last_error(comm));
    return bad != 0;
}

/* Rank 0's value of *v on every rank (decisions made by the clock). */
static int from_root(ctr_comm *comm, double *v)
{
    int64_t bits;
    if (comm == NULL)
        return 0;
    memcpy(&bits, v, sizeof(bits));
    if (ctr_comm_broadcast_i64(comm, &bits, 1, 0) != CTR_OK)
        return die("communicator", ctr_comm_last_error(comm));
    memcpy(v, &bits, sizeof(bits));
    return 0;
}

/* Loads both splits, keeps the requested subsets and applies --label-seed. */
static int load_data(const demo_options *o, fmnist_split *train, fmnist_split *test)
{
    char err[512];
    if (fmnist_load(train, o->data_dir, "train", err, sizeof(err)) != 0 ||
        fmnist_load(test, o->data_dir, "t10k", err, sizeof(err)) != 0)
        return die("data", err);
    if (o->train_subset > 0 && o->train_subset < train->count)
        train->count = o->train_subset;
    if (o->test_subset > 0 && o->test_subset < test->count)
        test->count = o->test_subset;
    if (o->label_seed != 0) {
        ctr_rng *rng = NULL;
        int64_t *perm = malloc((size_t)train->count * sizeof(int64_t));
        int64_t *copy = malloc((size_t)train->count * sizeof(int64_t));
        int64_t i;
        if (!perm || !copy || ctr_rng_create(&rng, o->label_seed, NULL) != CTR_OK ||
            ctr_rng_permutation(rng, perm, train->count) != CTR_OK)
            return die("labels", "out of memory");
        memcpy(copy, train->labels, (size_t)train->count * sizeof(int64_t));
        for (i = 0; i < train->count; i++)
            train->labels[i] = copy[perm[i]];
        ctr_rng_destroy(rng);
        free(perm);
        free(copy);
    }
    return 0;
}

/* ---- evaluation ---------------------------------------------------------------- */

/* What the evaluations read, for a training and a test sample: backbone
 * features (the linear probe) and L2-normalised embeddings (kNN, as Wu et
 * al. evaluate their 128-d features with k = 200, sigma = 0.07; the PCA). */
typedef struct features {
    float *train, *test;         /* backbone, n x dim */
    float *emb_train, *emb_test; /* embeddings, n x emb_dim */
    int64_t n_train, n_test, dim, emb_dim;
} features;

static float *alloc_rows(int64_t n, int64_t dim)
{
    return malloc((size_t)(n * dim) * sizeof(float));
}

/* Fills f; the backbone features only when `backbone` is set. */
static int extract(trainer *t, const fmnist_split *train, int64_t n_train,
                   const fmnist_split *test, int64_t n_test, int backbone, features *f)
{
    char err[512];
    memset(f, 0, sizeof(*f));
    f->dim = trainer_feature_dim(t);
    f->emb_dim = trainer_embedding_dim(t);
    f->n_train = n_train;
    f->n_test = n_test;
    if (backbone) {
        f->train = alloc_rows(n_train, f->dim);
        f->test = alloc_rows(n_test, f->dim);
    }
    f->emb_train = alloc_rows(n_train, f->emb_dim);
    f->emb_test = alloc_rows(n_test, f->emb_dim);
    if ((backbone && (!f->train || !f->test)) || !f->emb_train || !f->emb_test)
        return die("features", "out of memory");
    if (trainer_features(t, train->images, n_train, f->train, f->emb_train, err,
                         sizeof(err)) != 0 ||
        trainer_features(t, test->images, n_test, f->test, f->emb_test, err,
                         sizeof(err)) != 0)
        return die("features", err);
    return 0;
}

static void free_features(features *f)
{
    free(f->train);
    free(f->test);
    free(f->emb_train);
    free(f->emb_test);
    memset(f, 0, sizeof(*f));
}

static int knn_accuracy(const features *f, const int64_t *train_labels,
                        const int64_t *test_labels, double *acc)
{
    ctr_knn *knn = NULL;
    int64_t k = f->n_train < 200 ? f->n_train : 200, d = f->emb_dim;
    int rc = ctr_knn_create(&knn, NULL);
    if (rc == CTR_OK) rc = ctr_knn_set_i64(knn, CTR_KNN_P_K, k);
    if (rc == CTR_OK)
        rc = ctr_knn_accuracy(knn, f->emb_train, f->n_train, d, train_labels,
                              f->emb_test, f->n_test, d, d, FMNIST_CLASSES,
                              test_labels, acc);
    if (rc != CTR_OK)
        fprintf(stderr, "contrastive-demo: kNN: %s (%s)\n", ctr_strerror(rc),
                ctr_knn_last_error(knn));
    ctr_knn_destroy(knn);
    return rc == CTR_OK ? 0 : 1;
}

static int linear_probe_accuracy(const features *f, const int64_t *train_labels,
                                 const int64_t *test_labels, double *acc)
{
    ctr_probe *p = NULL;
    int rc = ctr_probe_create(&p, f->dim, FMNIST_CLASSES, NULL);
    if (rc == CTR_OK) rc = ctr_probe_set_f64(p, CTR_PROBE_P_L2, PROBE_L2);
    if (rc == CTR_OK) rc = ctr_probe_set_i64(p, CTR_PROBE_P_MAX_ITER, 300);
    if (rc == CTR_OK) rc = ctr_probe_fit(p, f->train, f->n_train, f->dim, train_labels);
    if (rc == CTR_OK)
        rc = ctr_probe_accuracy(p, f->test, f->n_test, f->dim, test_labels, acc);
    if (rc != CTR_OK)
        fprintf(stderr, "contrastive-demo: linear probe: %s (%s)\n", ctr_strerror(rc),
                ctr_probe_last_error(p));
    ctr_probe_destroy(p);
    return rc == CTR_OK ? 0 : 1;
}

/* Alignment of (plain, augmented) test embeddings and their uniformity. */
static int embedding_metrics(trainer *t, const fmnist_split *test, epoch_metrics *m)
{
    int64_t n = test->count < METRIC_SAMPLE ? test->count : METRIC_SAMPLE;
    int64_t d = trainer_embedding_dim(t);
    float *plain = malloc((size_t)(n * d) * sizeof(float));
    float *aug = malloc((size_t)(n * d) * sizeof(float));
    char err[512];
    int rc = 1;
    if (plain && aug && n >= 2 &&
        trainer_embeddings(t, test->images, n, plain, 0, err, sizeof(err)) == 0 &&
        trainer_embeddings(t, test->images, n, aug, 1, err, sizeof(err)) == 0 &&
        ctr_alignment(&m->alignment, plain, d, aug, d, n, d, 2.0) == CTR_OK &&
        ctr_uniformity(&m->uniformity, plain, d, n, d, 2.0) == CTR_OK)
        rc = 0;
    free(plain);
    free(aug);
    return rc;
}

/* The per-epoch monitor: kNN of a test sample against a training sample. */
static int monitor(trainer *t, const fmnist_split *train, const fmnist_split *test,
                   epoch_metrics *m)
{
    features f;
    int64_t n_train = train->count < MONITOR_TRAIN ? train->count : MONITOR_TRAIN;
    int64_t n_test = test->count < MONITOR_TEST ? test->count : MONITOR_TEST;
    int rc = extract(t, train, n_train, test, n_test, 0, &f);
    if (rc == 0)
        rc = knn_accuracy(&f, train->labels, test->labels, &m->knn_acc);
    free_features(&f);
    if (rc == 0)
        rc = embedding_metrics(t, test, m);
    return rc;
}

/* ---- report ----------------------------------------------------------------- */

static const char *out_path(char *buf, size_t cap, const demo_options *o, const char *name)
{
    snprintf(buf, cap, "%s/%s", o->out_dir, name);
    return buf;
}

static int write_report(const demo_options *o, const epoch_metrics *h, int64_t n)
{
    char path[4096], title[256];
    snprintf(title, sizeof(title), "%s, %s encoder: training loss and kNN accuracy",
             method_name(o->method), o->encoder);
    if (report_write_csv(out_path(path, sizeof(path), o, "metrics.csv"), h, n) != 0 ||
        report_write_chart(out_path(path, sizeof(path), o, "chart.svg"), h, n, title) != 0)
        return die("report", strerror(errno));
    return 0;
}

/* Reads back metrics.csv when resuming. Returns the rows read. */
static int64_t read_history(const demo_options *o, epoch_metrics *h, int64_t cap)
{
    char path[4096], line[512];
    int64_t n = 0;
    FILE *f = fopen(out_path(path, sizeof(path), o, "metrics.csv"), "r");
    if (f == NULL)
        return 0;
    if (fgets(line, sizeof(line), f) == NULL) { /* header */
        fclose(f);
        return 0;
    }
    while (n < cap && fgets(line, sizeof(line), f) != NULL) {
        epoch_metrics *m = &h[n];
        long long e, s;
        if (sscanf(line, "%lld,%lld,%lf,%lf,%lf,%lf,%lf,%lf", &e, &s, &m->seconds,
                   &m->loss, &m->pretext_acc, &m->knn_acc, &m->alignment,
                   &m->uniformity) != 8)
            break;
        m->epoch = e;
        m->steps = s;
        n++;
    }
    fclose(f);
    return n;
}

/* ---- training ----------------------------------------------------------------- */

typedef struct run_state {
    epoch_metrics *history;
    int64_t epochs_done;
    double train_seconds;
    ctr_comm *comm;  /* NULL: one process */
    FILE *step_log;  /* --step-log, on rank 0 */
} run_state;

static void progress(int tty, int64_t epoch, int64_t step, int64_t steps, double loss,
                     double acc, double rate, double eta)
{
    if (!tty)
        return;
    fprintf(stderr, "\r epoch %lld  step %lld/%lld  loss %.4f  pretext acc %.3f  "
            "%.1f steps/s  ETA %.0fs   ", (long long)epoch, (long long)step,
            (long long)steps, loss, acc, rate, eta);
    fflush(stderr);
}

/* Trains one epoch (or until the time budget ends it); fills m. */
/* Whether the time budget ends the epoch after this step: rank 0's clock
 * decides for every rank. */
static int budget_spent(const demo_options *o, run_state *rs, double elapsed)
{
    double spent = o->time_budget > 0 && rs->train_seconds + elapsed >= o->time_budget;
    if (o->time_budget > 0 && from_root(rs->comm, &spent) != 0)
        return -1;
    return spent != 0.0;
}

static int train_epoch(trainer *t, const demo_options *o, const fmnist_split *train,
                       int64_t *order, int64_t steps, run_state *rs, epoch_metrics *m)
{
    int tty = isatty(fileno(stderr)) && is_root(rs->comm), spent = 0;
    double start = now(), loss_sum = 0.0, acc_sum = 0.0;
    char err[512];
    int64_t s;
    if (trainer_shuffle(t, order, train->count) != 0)
        return die("shuffle", "failed");
    for (s = 0; s < steps; s++) {
        step_stats st;
        double elapsed;
        if (trainer_step(t, train, order + s * o->batch, &st, err, sizeof(err)) != 0)
            return die("training", err);
        loss_sum += st.loss;
        acc_sum += st.pretext_acc;
        elapsed = now() - start;
        if (rs->step_log != NULL)
            fprintf(rs->step_log, "%lld %.9g %.9g\n", (long long)trainer_steps_done(t),
                    st.loss, st.pretext_acc);
        progress(tty, rs->epochs_done + 1, s + 1, steps, loss_sum / (s + 1),
                 acc_sum / (s + 1), (s + 1) / elapsed,
                 (steps - s - 1) * elapsed / (s + 1));
        if ((spent = budget_spent(o, rs, elapsed)) != 0) {
            if (spent < 0)
                return 1;
            s++;
            break;
        }
    }
    rs->train_seconds += now() - start;
    if (from_root(rs->comm, &rs->train_seconds) != 0)
        return 1;
    m->epoch = rs->epochs_done + 1;
    m->steps = trainer_steps_done(t);
    m->seconds = rs->train_seconds;
    m->loss = loss_sum / (double)s;
    m->pretext_acc = acc_sum / (double)s;
    return 0;
}

static int run_training(trainer *t, const demo_options *o, const fmnist_split *train,
                        const fmnist_split *test, run_state *rs)
{
    int64_t steps = train->count / o->batch;
    int64_t *order = malloc((size_t)train->count * sizeof(int64_t));
    int64_t stop = o->stop_after > 0 ? rs->epochs_done + o->stop_after : o->epochs;
    char err[512];
    if (order == NULL)
        return die("training", "out of memory");
    while (rs->epochs_done < o->epochs && rs->epochs_done < stop &&
           (o->time_budget <= 0 || rs->train_seconds < o->time_budget)) {
        epoch_metrics *m = &rs->history[rs->epochs_done];
        if (train_epoch(t, o, train, order, steps, rs, m) != 0 ||
            trainer_sync(t, err, sizeof(err)) != 0 ||
            all_ok(rs->comm, is_root(rs->comm) ? monitor(t, train, test, m) : 0) != 0) {
            free(order);
            return 1;
        }
        rs->epochs_done++;
        if (is_root(rs->comm))
            fprintf(stderr, "%sepoch %lld: loss %.4f, pretext acc %.3f, kNN (monitor) %.4f, "
                    "align %.3f, unif %.3f, %.0fs\n", isatty(fileno(stderr)) ? "\r" : "",
                    (long long)m->epoch, m->loss, m->pretext_acc, m->knn_acc,
                    m->alignment, m->uniformity, m->seconds);
        if (all_ok(rs->comm, trainer_save(t, o->out_dir, err, sizeof(err)) != 0
                                 ? die("checkpoint", err)
                                 : is_root(rs->comm) ? write_report(o, rs->history,
                                                                    rs->epochs_done)
                                                     : 0) != 0) {
            free(order);
            return 1;
        }
    }
    free(order);
    return 0;
}

/* ---- final evaluation --------------------------------------------------------------- */

static int final_evaluation(trainer *t, const demo_options *o, const fmnist_split *train,
                            const fmnist_split *test, const run_state *rs)
{
    features f;
    double knn = 0.0, linear = 0.0, t0 = now(), t1, t2, t3;
    char path[4096], title[256];
    int rc = extract(t, train, train->count, test, test->count, 1, &f);
    t1 = now();
    if (rc == 0)
        rc = knn_accuracy(&f, train->labels, test->labels, &knn);
    t2 = now();
    if (rc == 0)
        rc = linear_probe_accuracy(&f, train->labels, test->labels, &linear);
    t3 = now();
    if (rc == 0)
        fprintf(stderr, "evaluation: %.1fs (features %.1fs, kNN %.1fs, linear probe "
                "%.1fs)\n", t3 - t0, t1 - t0, t2 - t1, t3 - t2);
    if (rc == 0) {
        int64_t n = test->count < 3000 ? test->count : 3000;
        snprintf(title, sizeof(title), "PCA of %lld test images' embeddings (%s)",
                 (long long)n, method_name(o->method));
        if (report_write_pca(out_path(path, sizeof(path), o, "pca.svg"), f.emb_test, n,
                             f.emb_dim,
                             test->labels, fmnist_class_names, FMNIST_CLASSES, title) != 0)
            rc = die("report", "cannot write pca.svg");
    }
    free_features(&f);
    if (rc == 0)
        printf("RESULT method=%s encoder=%s epochs=%lld train_seconds=%.1f "
               "knn_acc=%.4f linear_acc=%.4f\n", method_name(o->method), o->encoder,
               (long long)rs->epochs_done, rs->train_seconds, knn, linear);
    return rc;
}

int demo_run(int argc, char **argv, ctr_comm *comm)
{
    demo_options o;
    fmnist_split train, test;
    run_state rs;
    trainer *t = NULL;
    char err[512];
    int rc = options_parse(&o, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    set_threads(comm != NULL && o.threads == 0 ? 1 : o.threads);
    if (load_data(&o, &train, &test) != 0)
        return 1;
    if (train.count < o.batch)
        return die("options", "--batch is larger than the training set");
    if (mkdir(o.out_dir, 0777) != 0 && errno != EEXIST)
        return die(o.out_dir, strerror(errno));
    memset(&rs, 0, sizeof(rs));
    rs.comm = comm;
    rs.history = calloc((size_t)o.epochs, sizeof(epoch_metrics));
    if (rs.history == NULL ||
        trainer_create(&t, &o, comm, train.count, o.epochs * (train.count / o.batch), err,
                       sizeof(err)) != 0)
        return die("setup", rs.history == NULL ? "out of memory" : err);
    if (o.step_log != NULL && is_root(comm) && (rs.step_log = fopen(o.step_log, "w")) == NULL)
        return die(o.step_log, strerror(errno));
    if (o.resume) {
        if (trainer_load(t, o.out_dir, err, sizeof(err)) != 0)
            return die("resume", err);
        rs.epochs_done = read_history(&o, rs.history, o.epochs);
        rs.train_seconds = rs.epochs_done > 0 ? rs.history[rs.epochs_done - 1].seconds : 0;
        if (rs.epochs_done == 0 ||
            rs.history[rs.epochs_done - 1].steps != trainer_steps_done(t))
            return die("resume", "metrics.csv and the checkpoint disagree");
    }
    rc = run_training(t, &o, &train, &test, &rs);
    if (rc == 0)
        rc = all_ok(comm, is_root(comm) ? final_evaluation(t, &o, &train, &test, &rs) : 0);
    if (rs.step_log != NULL && fclose(rs.step_log) != 0 && rc == 0)
        rc = die(o.step_log, strerror(errno));
    trainer_destroy(t);
    free(rs.history);
    fmnist_free(&train);
    fmnist_free(&test);
    return rc;
}
