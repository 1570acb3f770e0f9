/*
 * savefile.c - atomic replacement of a file (savefile.h).
 */
#define _GNU_SOURCE /* O_TMPFILE, flock; implies the POSIX 2008 interfaces */

#include "common/savefile.h"

#include "common/checkpoint_format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define TMP_SUFFIX ".tmp-XXXXXX"
#define TMP_X 6            /* the X's: random letters and digits */
#define NAME_ATTEMPTS 100  /* names tried before giving up (EEXIST) */

static const char name_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* ---- helpers ---------------------------------------------------------------- */

static int fail_io(ctr__error *err, const char *what, const char *path)
{
    char buf[128];
    int e = errno;
    ctr__fail(err, CTR_E_IO, "checkpoint: cannot %s '%s': %s", what, path,
              ctr__ckpt_errno_text(buf, sizeof(buf), e));
    errno = e;
    return CTR_E_IO;
}

/* An exclusive, non-blocking lock: 1 if taken (or if this system has no
 * flock, where nothing can tell a live temporary from a stale one). */
static int try_lock(int fd, int wait)
{
#ifdef LOCK_EX
    return flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == 0;
#else
    (void)fd;
    (void)wait;
    return 1;
#endif
}

/* splitmix64: the random letters of temporary names come from it, seeded
 * per call (no state outlives the call). */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t name_seed(const void *f)
{
    struct timespec ts;
    uint64_t s = (uint64_t)(uintptr_t)f ^ ((uint64_t)getpid() << 32);
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
        s ^= (uint64_t)ts.tv_sec * UINT64_C(1000000007) + (uint64_t)ts.tv_nsec;
    return s;
}

/* Writes new random X's at the end of f->tmp_path. */
static void fresh_name(ctr__savefile *f, uint64_t *seed)
{
    char *x = f->tmp_path + f->tmp_size - 1 - TMP_X;
    uint64_t r = mix(seed);
    int i;
    for (i = 0; i < TMP_X; i++, r >>= 8)
        x[i] = name_chars[(r & 0xff) % (sizeof(name_chars) - 1)];
}

/* 1 if `name` is <base>.tmp-XXXXXX for the target's base name. */
static int is_temporary_of(const char *name, const char *base, size_t base_len)
{
    const size_t sfx = sizeof(TMP_SUFFIX) - 1 - TMP_X;
    size_t i;
    if (strlen(name) != base_len + sfx + TMP_X ||
        memcmp(name, base, base_len) != 0 ||
        memcmp(name + base_len, TMP_SUFFIX, sfx) != 0)
        return 0;
    for (i = base_len + sfx; name[i] != '\0'; i++)
        if (strchr(name_chars, name[i]) == NULL)
            return 0;
    return 1;
}

/* 1 if `path` names the inode open as fd. */
static int names_fd(const char *path, int fd)
{
    struct stat a, b;
    return lstat(path, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* Removes the temporaries of the target that no save holds: those a killed
 * save left. dir is the target's directory ("." for none), base its name.
 * Best effort: what cannot be read or removed is left. */
static void remove_stale(char *scratch, size_t cap, const char *dir,
                         const char *base)
{
    size_t base_len = strlen(base);
    struct dirent *e;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        int fd;
        struct stat st;
        if (!is_temporary_of(e->d_name, base, base_len))
            continue;
        if ((size_t)snprintf(scratch, cap, "%s/%s", dir, e->d_name) >= cap)
            continue;
        fd = open(scratch, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && try_lock(fd, 0) &&
            names_fd(scratch, fd))
            (void)unlink(scratch);
        (void)close(fd);
    }
    (void)closedir(d);
}

/* Splits f->path into directory and base name in f->tmp_path's storage
 * (which must hold path + 2 bytes): returns the base, *dir the directory. */
static const char *split_path(ctr__savefile *f, const char **dir)
{
    const char *slash = strrchr(f->path, '/');
    size_t len;
    if (slash == NULL) {
        *dir = ".";
        return f->path;
    }
    len = (size_t)(slash - f->path);
    memcpy(f->tmp_path, f->path, len == 0 ? 1 : len);
    f->tmp_path[len == 0 ? 1 : len] = '\0';
    *dir = f->tmp_path;
    return slash + 1;
}

/* ---- the temporary file ------------------------------------------------------ */

/* An unnamed temporary in dir (Linux O_TMPFILE, when /proc can link it
 * later), or -1. */
static int open_unnamed(const char *dir)
{
#if defined(O_TMPFILE)
    if (access("/proc/self/fd", X_OK) == 0)
        return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
#else
    (void)dir;
#endif
    return -1;
}

/* A new file under a fresh <path>.tmp-XXXXXX, locked; -1 with errno. */
static int open_named(ctr__savefile *f, uint64_t *seed)
{
    int i;
    for (i = 0; i < NAME_ATTEMPTS; i++) {
        int fd;
        fresh_name(f, seed);
        fd = open(f->tmp_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0666);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            return -1;
        /* A concurrent save may have taken it for stale before the lock:
         * then the name is gone, and another is tried. */
        if (try_lock(fd, 1) && names_fd(f->tmp_path, fd))
            return fd;
        (void)close(fd);
    }
    errno = EEXIST;
    return -1;
}

/* Opens f's temporary in dir, unnamed if `how` and the system allow, else
 * as <path>.tmp-XXXXXX (f->tmp_path: this writes its name); f->fd is -1
 * with errno on failure. */
static void open_temporary(ctr__savefile *f, const char *dir, int how, uint64_t *seed)
{
    size_t len = strlen(f->path);
    f->fd = how == CTR__SAVEFILE_NAMED ? -1 : open_unnamed(dir);
    if (f->fd >= 0 && !try_lock(f->fd, 1)) {
        (void)close(f->fd);
        f->fd = -1;
    }
    memcpy(f->tmp_path, f->path, len);
    memcpy(f->tmp_path + len, TMP_SUFFIX, sizeof(TMP_SUFFIX));
    if (f->fd < 0) {
        f->fd = open_named(f, seed);
        f->named = f->fd >= 0;
    }
}

int ctr__savefile_open(ctr__savefile *f, const char *path, const ctr__alloc *a,
                       ctr__error *err)
{
    return ctr__savefile_open_how(f, path, a, err, CTR__SAVEFILE_ANY);
}

int ctr__savefile_open_how(ctr__savefile *f, const char *path, const ctr__alloc *a,
                           ctr__error *err, int how)
{
    struct stat st;
    size_t len, size;
    const char *dir, *base;
    uint64_t seed = name_seed(f);
    int keep_mode;
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    f->path = path;
    f->alloc = a;
    if (path == NULL || path[0] == '\0')
        return ctr__fail(err, CTR_E_INVALID_ARG, "checkpoint: path is NULL or empty");
    len = strlen(path);
    if (ctr__add_size(&size, len, sizeof(TMP_SUFFIX)) != CTR_OK)
        return ctr__fail(err, CTR_E_OVERFLOW, "checkpoint: path too long");
    f->tmp_path = (char *)ctr__malloc(a, size);
    if (f->tmp_path == NULL)
        return ctr__fail(err, CTR_E_NOMEM, "checkpoint: out of memory for the temporary name");
    f->tmp_size = size;
    keep_mode = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
    base = split_path(f, &dir);
    {
        char scratch[4096];
        remove_stale(scratch, sizeof(scratch), dir, base);
    }
    open_temporary(f, dir, how, &seed);
    if (f->fd < 0) {
        int rc = fail_io(err, "create a temporary file beside", path);
        ctr__savefile_release(f, 1);
        return rc;
    }
    if (keep_mode && fchmod(f->fd, st.st_mode & 07777) != 0) {
        int rc = fail_io(err, "keep the mode of", path);
        ctr__savefile_release(f, 1);
        return rc;
    }
    return CTR_OK;
}

/* Gives the unnamed temporary its name (a fresh <path>.tmp-XXXXXX). */
static int link_unnamed(ctr__savefile *f, uint64_t *seed)
{
    char proc[64];
    int i;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
    for (i = 0; i < NAME_ATTEMPTS; i++) {
        fresh_name(f, seed);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, f->tmp_path, AT_SYMLINK_FOLLOW) == 0) {
            f->named = 1;
            return 0;
        }
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* Best effort: make the rename durable by syncing the directory. Some file
 * systems refuse fsync on a directory; the file is complete either way. */
static void sync_dir(ctr__savefile *f)
{
    const char *dir;
    int fd;
    (void)split_path(f, &dir);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        (void)close(fd);
    }
}

int ctr__savefile_commit(ctr__savefile *f, ctr__error *err)
{
    uint64_t seed = name_seed(f) ^ UINT64_C(0x5A5A5A5A5A5A5A5A);
    int rc;
    if (f->fd < 0)
        return ctr__fail(err, CTR_E_INVALID_ARG, "checkpoint: no temporary file");
    if (fsync(f->fd) != 0)
        rc = fail_io(err, "sync the checkpoint for", f->path);
    else if (!f->named && link_unnamed(f, &seed) != 0)
        rc = fail_io(err, "name the temporary file beside", f->path);
    else if (rename(f->tmp_path, f->path) != 0)
        rc = fail_io(err, "rename the temporary file to", f->path);
    else
        rc = CTR_OK;
    if (rc == CTR_OK) {
        f->named = 0; /* the name is the target's now */
        sync_dir(f);
    }
    return rc;
}

void ctr__savefile_release(ctr__savefile *f, int close_fd)
{
    int e = errno;
    if (f->named && f->tmp_path != NULL)
        (void)unlink(f->tmp_path);
    f->named = 0;
    if (close_fd && f->fd >= 0)
        (void)close(f->fd);
    f->fd = -1;
    if (f->tmp_path != NULL)
        ctr__free(f->alloc, f->tmp_path, f->tmp_size);
    f->tmp_path = NULL;
    errno = e;
}
