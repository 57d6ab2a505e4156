/* fuzz_options.c - libFuzzer target: dxt-analyze's command line (getopt_long,
 * the number parsers, the checks of tools/dxt-analyze.c), driven through its real
 * main, compiled in here under another name (main.c is not changed).
 * Owner: reliability (tests/fuzz/). Corpus: tests/fuzz/corpus/options/.
 *
 * Input: arguments separated by NUL bytes. A TRACE path that never exists is
 * added at the end, so a command line that parses stops at loading the input
 * (exit 2) and nothing is read or written; output goes to /dev/null. The exit
 * code must be one of the documented ones (0, 1, 2). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define main dxt_analyze_main
#include "../../tools/dxt-analyze.c"
#undef main
#include "../../tools/mpi/analyze_mpi.c" /* without DXT_HAVE_MPI here: no MPI */

#include "fuzz_common.h"

#define FUZZ_MAX_ARGS 32
#define FUZZ_TRACE "/nonexistent/dxt-fuzz-trace"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!freopen("/dev/null", "w", stdout))
        perror("fuzz_options: /dev/null"); /* the usage text then shows: harmless */
    return 0;
}

/* --follow (or an abbreviation of it, "--fol".., with or without =) waits for a
 * trace to be written: on a directory that exists it would run until a signal. */
static int asks_follow(const char *arg)
{
    size_t len = strcspn(arg, "=");
    return len >= 5 && len <= 8 && strncmp(arg, "--follow", len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *argv[FUZZ_MAX_ARGS + 3];
    int argc = 0;
    argv[argc++] = "dxt-analyze";
    for (size_t k = 0; k < size && argc < FUZZ_MAX_ARGS;) {
        argv[argc++] = copy + k;
        k += strlen(copy + k) + 1;
    }
    argv[argc++] = FUZZ_TRACE;
    argv[argc] = NULL;
    for (int k = 1; k < argc; k++)
        if (asks_follow(argv[k])) {
            free(copy);
            return 0;
        }
    optind = 0; /* glibc: start getopt_long afresh */
    opterr = 0; /* no getopt messages: the fuzzer's output stays readable */
    int rc = dxt_analyze_main(argc, argv);
    if (rc < 0 || rc > 2)
        abort(); /* 3 would mean it got past loading a path that does not exist */
    free(copy);
    return 0;
}
