/*
 * contrastive/knn.h - weighted k-nearest-neighbour classification (the
 * monitor of Wu et al. 2018, also used by MoCo and CMC): each test feature
 * votes over its k most similar training features, each neighbour weighted
 * by exp(s / sigma).
 * Included by contrastive.h; do not include it on its own.
 *
 * Protocol (docs/memories.md has the long form):
 *   - Similarity s: cosine (default; rows are L2-normalised inside, in
 *     double precision, so any non-zero row is a direction; a zero row has
 *     similarity 0 to everything) or the plain dot product (inputs whose
 *     dot products could overflow float are refused with CTR_E_NUMERIC).
 *   - The k (default 200) training rows of highest s are the neighbours;
 *     on equal s the lower training index wins, so results do not depend
 *     on the order in which blocks are visited. If k exceeds the training
 *     set, every training row is a neighbour.
 *   - Class scores are vote shares: score[c] = sum over neighbours of class
 *     c of exp(s / sigma), divided by the sum over all k neighbours
 *     (computed with the top similarity subtracted, so they never
 *     overflow); they sum to 1. The prediction is the class of highest
 *     score, the lowest class index on a tie.
 *   - Work: similarities by blocked cblas_sgemm (a block of test rows
 *     against tiles of training rows); per test row a buffer of 2k
 *     candidates above a rising threshold, cut back to the k best by
 *     selection when full (amortised O(1) per candidate). On large
 *     training sets the threshold starts from a guess taken from a strided
 *     sample of training rows; the result is the same (a row the guess
 *     overshoots is recomputed without it).
 *     Memory: O(block x tile + block x k + classes), never N_test x N; see
 *     ctr_knn_workspace_size. The training matrix is only read (a bank's
 *     rows can be passed directly, see ctr_bank_rows).
 *   - GEMM runs on the host's BLAS threads; results are deterministic for
 *     a given BLAS thread count.
 *
 * Thread rule: one thread at a time per handle.
 */
#ifndef CONTRASTIVE_KNN_H
#define CONTRASTIVE_KNN_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_knn ctr_knn;

/* Similarity metrics (CTR_KNN_P_METRIC). Values are pinned. */
#define CTR_KNN_COSINE 0
#define CTR_KNN_DOT 1

/* Parameters. Values are pinned. */
#define CTR_KNN_P_K 300          /* i64, neighbours, default 200, 1..2^31-1 */
#define CTR_KNN_P_SIGMA 301      /* f64, temperature, default 0.07, 1e-6..1e6 */
#define CTR_KNN_P_METRIC 302     /* i64, CTR_KNN_COSINE or CTR_KNN_DOT */
#define CTR_KNN_P_BLOCK_ROWS 303 /* i64, test rows per block, default 512 */
#define CTR_KNN_P_TILE_ROWS 304  /* i64, train rows per tile, default 1024 */
/* Read-only: bytes of workspace the handle holds now. */
#define CTR_KNN_P_WORKSPACE_BYTES 305

/* Creates a classifier with the defaults above. Nothing else is allocated
 * until the first classification.
 * Errors: CTR_E_INVALID_ARG (out NULL, bad allocator), CTR_E_NOMEM.
 * Since 0.1.0. */
CTR_API int ctr_knn_create(ctr_knn **out, const ctr_allocator *alloc);

/* Frees the handle and its workspace. NULL is accepted. Since 0.1.0. */
CTR_API void ctr_knn_destroy(ctr_knn *knn);

/* Parameters: K, METRIC, BLOCK_ROWS, TILE_ROWS are integers (and
 * WORKSPACE_BYTES, read-only), SIGMA is real. As for every object (the
 * parameter rule of docs/conventions.md): set_f64 sets an integer
 * parameter to an integral value, set_i64 a real one to |value| <= 2^53,
 * get_f64 reads any parameter, get_i64 only integer ones. Out-of-bounds or
 * non-integral values are CTR_E_INVALID_ARG and keep the old value; NaN or
 * Inf is CTR_E_NUMERIC. param_bounds gives the inclusive range of any
 * settable parameter and needs no handle.
 * Errors: CTR_E_INVALID_ARG (NULL, unknown or read-only parameter, get_i64
 * of SIGMA). Since 0.1.0. */
CTR_API int ctr_knn_set_i64(ctr_knn *knn, int32_t param, int64_t value);
CTR_API int ctr_knn_get_i64(const ctr_knn *knn, int32_t param,
                            int64_t *value);
CTR_API int ctr_knn_set_f64(ctr_knn *knn, int32_t param, double value);
CTR_API int ctr_knn_get_f64(const ctr_knn *knn, int32_t param,
                            double *value);
CTR_API int ctr_knn_param_bounds(int32_t param, double *lo, double *hi);

/* The workspace bytes a classification with these sizes needs under the
 * current parameters (the handle keeps the largest workspace it has
 * needed; calls that fit do not allocate).
 * Errors: CTR_E_INVALID_ARG (NULL, a size < 1), CTR_E_OVERFLOW.
 * Since 0.1.0. */
CTR_API int ctr_knn_workspace_size(const ctr_knn *knn, int64_t n_train,
                                   int64_t n_test, int64_t dim,
                                   int64_t n_classes, size_t *bytes);

/* Classifies n_test rows of test (row i at test[i * ld_test], dim floats)
 * against n_train rows of train (row j at train[j * ld_train]) labelled
 * train_labels[j] in 0..n_classes-1. Writes pred[i] (n_test entries) and,
 * if scores is not NULL, the vote shares scores[i * n_classes + c].
 * All inputs are validated before anything is written.
 * Errors: CTR_E_INVALID_ARG (NULL, sizes < 1, ld < dim, a label outside
 * 0..n_classes-1), CTR_E_NUMERIC (NaN/Inf in train or test; with the dot
 * metric, max ||train row|| x max ||test row|| above FLT_MAX / 4),
 * CTR_E_OVERFLOW, CTR_E_NOMEM (workspace; outputs untouched).
 * Since 0.1.0. */
CTR_API int ctr_knn_classify(ctr_knn *knn, const float *train,
                             int64_t n_train, int64_t ld_train,
                             const int64_t *train_labels, const float *test,
                             int64_t n_test, int64_t ld_test, int64_t dim,
                             int64_t n_classes, int64_t *pred, float *scores);

/* As ctr_knn_classify, but compares the predictions with test_labels
 * (0..n_classes-1) and writes the fraction correct to *accuracy instead of
 * returning predictions. Errors: as ctr_knn_classify. Since 0.1.0. */
CTR_API int ctr_knn_accuracy(ctr_knn *knn, const float *train,
                             int64_t n_train, int64_t ld_train,
                             const int64_t *train_labels, const float *test,
                             int64_t n_test, int64_t ld_test, int64_t dim,
                             int64_t n_classes, const int64_t *test_labels,
                             double *accuracy);

/* The message of the handle's most recent call ("" if it succeeded); owned by the
 * handle, valid until its next call. NULL gives a static text.
 * Since 0.1.0. */
CTR_API const char *ctr_knn_last_error(const ctr_knn *knn);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_KNN_H */
