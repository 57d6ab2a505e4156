/* fuzz_common.h - helpers shared by the libFuzzer targets in tests/fuzz/.
 * Owner: reliability (tests/fuzz/). Each target defines LLVMFuzzerTestOneInput;
 * replay.c drives the same function over files for the normal test run.
 *
 * Parsers that only take a path get the input through an anonymous memory
 * file (memfd) named by its /proc/self/fd path: no disk traffic, no temp
 * files left behind when a run is killed. */
#ifndef DXT_FUZZ_COMMON_H
#define DXT_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
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

#endif
