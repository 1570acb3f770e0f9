/*
 * comm_fake.h - an in-process transport for ctr_comm: R ranks as R threads
 * of one process, meeting at a barrier in every collective, reducing in
 * rank order (so every rank gets the same bits, as the contract asks).
 * A rank can be told to fail its k-th callback (it still takes part, so
 * that the others do not hang, and returns code 7).
 *
 * Header-only (static functions) so that every suite that needs it can
 * include it without a Makefile change.
 */
#ifndef CTR_TEST_COMM_FAKE_H
#define CTR_TEST_COMM_FAKE_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "contrastive.h"

#define FAKE_MAX_RANKS 8
#define FAKE_FAIL_CODE 7

typedef struct fake_world {
    int64_t size;
    pthread_barrier_t bar;
    const void *slot[FAKE_MAX_RANKS];
    int64_t fail_rank;   /* -1: no failure */
    int64_t fail_call;   /* that rank's callback number to fail */
    int64_t releases;    /* release callbacks seen (under the mutex) */
    const ctr_allocator *alloc; /* rank alloc_rank's comm allocator */
    int64_t alloc_rank;
    pthread_mutex_t mu;
} fake_world;

typedef struct fake_rank {
    fake_world *w;
    int64_t rank;
    int64_t calls;
} fake_rank;

/* 1 if this callback is the one to fail. */
static inline int fake_tick(fake_rank *fr)
{
    int fail = fr->rank == fr->w->fail_rank && fr->calls == fr->w->fail_call;
    fr->calls++;
    return fail ? FAKE_FAIL_CODE : 0;
}

static inline int fake_rank_cb(void *user, int64_t *rank)
{
    *rank = ((fake_rank *)user)->rank;
    return 0;
}

static inline int fake_size_cb(void *user, int64_t *size)
{
    *size = ((fake_rank *)user)->w->size;
    return 0;
}

static inline void fake_wait(fake_rank *fr)
{
    pthread_barrier_wait(&fr->w->bar);
}

/* The sum over ranks in rank order of element i into tmp (elem bytes). */
typedef void (*fake_add_fn)(void *tmp, const void *const *slots, int64_t size,
                            int64_t i);

static inline void fake_add_f32(void *tmp, const void *const *slots,
                                int64_t size, int64_t i)
{
    float s = 0.0f;
    int64_t r;
    for (r = 0; r < size; r++)
        s += ((const float *)slots[r])[i];
    ((float *)tmp)[i] = s;
}

static inline void fake_add_i64(void *tmp, const void *const *slots,
                                int64_t size, int64_t i)
{
    int64_t s = 0, r;
    for (r = 0; r < size; r++)
        s += ((const int64_t *)slots[r])[i];
    ((int64_t *)tmp)[i] = s;
}

static inline int fake_allreduce(fake_rank *fr, void *buf, int64_t n,
                                 size_t elem, fake_add_fn add)
{
    int code = fake_tick(fr);
    void *tmp = malloc((size_t)n * elem);
    int64_t i;
    fr->w->slot[fr->rank] = buf;
    fake_wait(fr);
    for (i = 0; i < n; i++)
        add(tmp, fr->w->slot, fr->w->size, i);
    fake_wait(fr);
    memcpy(buf, tmp, (size_t)n * elem);
    free(tmp);
    return code;
}

static inline int fake_allreduce_f32(void *user, float *buf, int64_t n)
{
    return fake_allreduce((fake_rank *)user, buf, n, sizeof(float),
                          fake_add_f32);
}

static inline int fake_allreduce_i64(void *user, int64_t *buf, int64_t n)
{
    return fake_allreduce((fake_rank *)user, buf, n, sizeof(int64_t),
                          fake_add_i64);
}

static inline int fake_allgather(fake_rank *fr, const void *send, void *recv,
                                 size_t bytes)
{
    int code = fake_tick(fr);
    int64_t r;
    fr->w->slot[fr->rank] = send;
    fake_wait(fr);
    for (r = 0; r < fr->w->size; r++)
        memcpy((char *)recv + (size_t)r * bytes, fr->w->slot[r], bytes);
    fake_wait(fr);
    return code;
}

static inline int fake_allgather_f32(void *user, const float *send,
                                     float *recv, int64_t n)
{
    return fake_allgather((fake_rank *)user, send, recv,
                          (size_t)n * sizeof(float));
}

static inline int fake_allgather_i64(void *user, const int64_t *send,
                                     int64_t *recv, int64_t n)
{
    return fake_allgather((fake_rank *)user, send, recv,
                          (size_t)n * sizeof(int64_t));
}

static inline int fake_broadcast(fake_rank *fr, void *buf, size_t bytes,
                                 int64_t root)
{
    int code = fake_tick(fr);
    fr->w->slot[fr->rank] = buf;
    fake_wait(fr);
    if (fr->rank != root)
        memcpy(buf, fr->w->slot[root], bytes);
    fake_wait(fr);
    return code;
}

static inline int fake_broadcast_f32(void *user, float *buf, int64_t n,
                                     int64_t root)
{
    return fake_broadcast((fake_rank *)user, buf, (size_t)n * sizeof(float),
                          root);
}

static inline int fake_broadcast_i64(void *user, int64_t *buf, int64_t n,
                                     int64_t root)
{
    return fake_broadcast((fake_rank *)user, buf, (size_t)n * sizeof(int64_t),
                          root);
}

static inline const char *fake_describe(void *user, int code)
{
    (void)user;
    return code == FAKE_FAIL_CODE ? "fake transport failure" : "unknown";
}

static inline void fake_release(void *user)
{
    fake_rank *fr = (fake_rank *)user;
    pthread_mutex_lock(&fr->w->mu);
    fr->w->releases++;
    pthread_mutex_unlock(&fr->w->mu);
}

/* The ops of rank fr (user = fr). */
static inline void fake_ops(ctr_comm_ops *ops, fake_rank *fr)
{
    ctr_comm_ops_init(ops);
    ops->user = fr;
    ops->rank = fake_rank_cb;
    ops->size = fake_size_cb;
    ops->allreduce_f32 = fake_allreduce_f32;
    ops->allreduce_i64 = fake_allreduce_i64;
    ops->allgather_f32 = fake_allgather_f32;
    ops->allgather_i64 = fake_allgather_i64;
    ops->broadcast_f32 = fake_broadcast_f32;
    ops->broadcast_i64 = fake_broadcast_i64;
    ops->describe = fake_describe;
    ops->release = fake_release;
}

/* What a rank's thread runs: fn(comm, rank, size, ctx, &results[rank]). */
typedef void (*fake_rank_fn)(ctr_comm *comm, int64_t rank, int64_t size,
                             void *ctx, void *result);

typedef struct fake_thread {
    fake_rank fr;
    fake_rank_fn fn;
    void *ctx;
    void *result;
    int create_rc;
} fake_thread;

static inline void *fake_thread_main(void *arg)
{
    fake_thread *t = (fake_thread *)arg;
    ctr_comm_ops ops;
    ctr_comm *comm = NULL;
    fake_ops(&ops, &t->fr);
    t->create_rc = ctr_comm_create(
        &comm, &ops, t->fr.rank == t->fr.w->alloc_rank ? t->fr.w->alloc : NULL);
    if (t->create_rc == CTR_OK) {
        t->fn(comm, t->fr.rank, t->fr.w->size, t->ctx, t->result);
        ctr_comm_destroy(comm);
    }
    return NULL;
}

/* Runs fn on `size` ranks (threads); results is an array of size blocks of
 * result_bytes. The world's failure point: rank fail_rank's callback
 * number fail_call (-1: none). Returns the number of releases seen (one
 * per rank when all went well) or -1 if a comm could not be created.
 * Rank alloc_rank's comm is created with alloc (the others with NULL). */
static inline int64_t fake_run_alloc(int64_t size, fake_rank_fn fn,
                                     void *ctx, void *results,
                                     size_t result_bytes, int64_t fail_rank,
                                     int64_t fail_call,
                                     const ctr_allocator *alloc,
                                     int64_t alloc_rank)
{
    fake_world w;
    fake_thread th[FAKE_MAX_RANKS];
    pthread_t tid[FAKE_MAX_RANKS];
    int64_t r, bad = 0;
    memset(&w, 0, sizeof(w));
    w.size = size;
    w.fail_rank = fail_rank;
    w.fail_call = fail_call;
    w.alloc = alloc;
    w.alloc_rank = alloc_rank;
    pthread_barrier_init(&w.bar, NULL, (unsigned)size);
    pthread_mutex_init(&w.mu, NULL);
    for (r = 0; r < size; r++) {
        th[r].fr.w = &w;
        th[r].fr.rank = r;
        th[r].fr.calls = 0;
        th[r].fn = fn;
        th[r].ctx = ctx;
        th[r].result = (char *)results + (size_t)r * result_bytes;
        pthread_create(&tid[r], NULL, fake_thread_main, &th[r]);
    }
    for (r = 0; r < size; r++) {
        pthread_join(tid[r], NULL);
        bad += th[r].create_rc != CTR_OK;
    }
    pthread_barrier_destroy(&w.bar);
    pthread_mutex_destroy(&w.mu);
    return bad ? -1 : w.releases;
}

/* fake_run_alloc without an allocator: every comm uses the system's. */
static inline int64_t fake_run(int64_t size, fake_rank_fn fn, void *ctx,
                               void *results, size_t result_bytes,
                               int64_t fail_rank, int64_t fail_call)
{
    return fake_run_alloc(size, fn, ctx, results, result_bytes, fail_rank,
                          fail_call, NULL, -1);
}

#endif /* CTR_TEST_COMM_FAKE_H */
