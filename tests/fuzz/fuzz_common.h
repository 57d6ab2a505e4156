/* fuzz_common.h - helpers shared by the libFuzzer targets in tests/fuzz/.
 * Owner: reliability (tests/fuzz/). Each target defines LLVMFuzzerTestOneInput;
 * replay.c drives the same function over files for the normal test run.
 *
 * Parsers that only take a path get the input through an anonymous memory
 * file (memfd) named by its /proc/self/fd path: no disk traffic, no temp
 * files left behind when a run is killed. */
#ifndef DXT_FUZZ_COMMON_H
#define DXT_FUZZ_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write data into a new memory file; *fd gets it and path its
 * "/proc/self/fd/N" name. Returns 0, or -1 (no file; the input is skipped). */
static inline int fuzz_memfile(const uint8_t *data, size_t size, int *fd, char *path,
                               size_t pathlen)
{
    *fd = memfd_create("dxt-fuzz", 0);
    if (*fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(*fd, data + done, size - done);
        if (n <= 0) {
            close(*fd);
            *fd = -1;
            return -1;
        }
        done += (size_t)n;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", *fd);
    return 0;
}

/* The private directory (in /dev/shm when writable) and its one trace file,
 * rank-00000.h5, of a target that writes generated traces. */
typedef struct fuzz_scratch {
    char dir[256], file[300];
} fuzz_scratch;

static inline fuzz_scratch *fuzz_scratch_paths(void)
{
    static fuzz_scratch paths;
    return &paths;
}

static inline void fuzz_scratch_remove(void)
{
    unlink(fuzz_scratch_paths()->file);
    rmdir(fuzz_scratch_paths()->dir);
}

/* Create the directory for target (once, from LLVMFuzzerInitialize), with
 * HDF5's file locking off; it is removed at exit. */
static inline const fuzz_scratch *fuzz_scratch_create(const char *target)
{
    fuzz_scratch *p = fuzz_scratch_paths();
    setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1);
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(p->dir, sizeof p->dir, "%s/dxt-fuzz-%s-%d", base, target, (int)getpid());
    snprintf(p->file, sizeof p->file, "%.255s/rank-00000.h5", p->dir);
    if (mkdir(p->dir, 0700) != 0 && errno != EEXIST)
        perror(p->dir);
    atexit(fuzz_scratch_remove);
    return p;
}

#endif
