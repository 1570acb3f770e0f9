/*
 * savefile.h - replacing a file atomically (docs/file-format.md, "Writing,
 * and atomic replacement"): the new content goes to a temporary file in
 * the target's directory, which is synced and then renamed over the
 * target, so that a reader sees the old file or the whole new one.
 *
 * No named temporary outlives a crash: on Linux the temporary is an
 * unnamed O_TMPFILE inode, linked under "<path>.tmp-XXXXXX" only for the
 * instant before the rename; elsewhere (or where the file system has no
 * O_TMPFILE) it is created under that name. Either way the writer holds an
 * exclusive flock() on it, and every save first removes the temporaries of
 * its target that nobody holds (those of a killed save).
 *
 * Modes: a new file gets 0666 & ~umask, as fopen() would give it; a file
 * replaced keeps its permission bits.
 */
#ifndef CTR_SAVEFILE_H
#define CTR_SAVEFILE_H

#include "common/core.h"

typedef struct ctr__savefile {
    int fd;            /* the temporary file, open for writing; -1 if none */
    int named;         /* 1 once the temporary has the name tmp_path */
    char *tmp_path;    /* "<path>.tmp-XXXXXX" (allocated) */
    size_t tmp_size;
    const char *path;  /* the target (the caller's string) */
    const ctr__alloc *alloc;
} ctr__savefile;

/* Creates the temporary file for `path` (removing stale ones first).
 * CTR_OK; CTR_E_IO with the system's reason in err (and errno);
 * CTR_E_NOMEM; CTR_E_INVALID_ARG for an empty path. On failure nothing is
 * left behind and f->fd is -1. */
int ctr__savefile_open(ctr__savefile *f, const char *path, const ctr__alloc *a,
                       ctr__error *err);

/* How ctr__savefile_open_how makes the temporary: CTR__SAVEFILE_ANY as
 * ctr__savefile_open (unnamed where the system can, else named);
 * CTR__SAVEFILE_NAMED always under "<path>.tmp-XXXXXX", the way of systems
 * without O_TMPFILE (the tests use it to reach that way on Linux). */
#define CTR__SAVEFILE_ANY 0
#define CTR__SAVEFILE_NAMED 1
int ctr__savefile_open_how(ctr__savefile *f, const char *path, const ctr__alloc *a,
                           ctr__error *err, int how);

/* Syncs the temporary file and renames it over the target, then syncs the
 * directory (best effort). The caller has flushed what it wrote to f->fd
 * and closes f->fd afterwards (after ctr__savefile_release). CTR_OK or CTR_E_IO;
 * on failure the temporary is removed and the target is untouched. */
int ctr__savefile_commit(ctr__savefile *f, ctr__error *err);

/* Removes the temporary's name if it still has one (a failed or abandoned
 * save) and frees f's memory; closes f->fd if close_fd is set (else the
 * caller closes it, e.g. through fclose, after this call). errno is
 * preserved. */
void ctr__savefile_release(ctr__savefile *f, int close_fd);

#endif /* CTR_SAVEFILE_H */
