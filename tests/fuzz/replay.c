/* replay.c - runs a libFuzzer target's LLVMFuzzerTestOneInput over files, without
 * libFuzzer: the normal test run (tests/test_fuzz_regressions.sh) replays every
 * committed corpus input and every crash found, under ASan+UBSan with SAN=1.
 * Owner: reliability (tests/fuzz/). The Makefile links it with each
 * tests/fuzz/fuzz_<name>.c into BUILD/fuzz/replay_<name>.
 *
 *   replay_<name> FILE|DIR...    prints "replayed N inputs"; exit 0, 1 on a read error
 * (a crash is a crash: the sanitizer or the target aborts). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_MAX_BYTES (64u << 20)

static int replay_file(const char *path, long *count)
{
    int rc = -1;
    uint8_t *data = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0 || st.st_size < 0 || st.st_size > REPLAY_MAX_BYTES) {
        fprintf(stderr, "replay: %s: cannot read (or larger than %u bytes)\n", path,
                REPLAY_MAX_BYTES);
        goto done;
    }
    size_t size = (size_t)st.st_size;
    data = malloc(size ? size : 1);
    if (!data || fread(data, 1, size, f) != size) {
        fprintf(stderr, "replay: %s: short read\n", path);
        goto done;
    }
    LLVMFuzzerTestOneInput(data, size);
    (*count)++;
    rc = 0;
done:
    free(data);
    if (f)
        fclose(f);
    return rc;
}

static int replay_path(const char *path, long *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: no such file or directory\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path, count);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: %s: cannot list\n", path);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        if (replay_path(child, count) != 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    long count = 0;
    int rc = 0;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int k = 1; k < argc; k++)
        if (replay_path(argv[k], &count) != 0)
            rc = 1;
    printf("replayed %ld inputs\n", count);
    return rc;
}
