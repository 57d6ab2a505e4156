/* fmt_names.c - the format's names (generated from DXT_FORMAT_NAMES), unit and
 * counting strings, error lines and the one-time HDF5 setup.
 * Owner: the format module (format/). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fmt_internal.h"

static const char *const name_strings[DXT_NAME_COUNT] = {
#define DXT_NAME_STRING(id, str, what) [id] = str,
    DXT_FORMAT_NAMES(DXT_NAME_STRING)
#undef DXT_NAME_STRING
};

const dxt_name dxt_dset_names[DSET_COUNT] = {DXT_D_WAIT, DXT_D_STEP, DXT_D_TIME_NS,
                                             DXT_D_TOKENS, DXT_D_CLOCK_HZ};

const char *dxt_name_str(dxt_name name)
{
    if ((int)name < 0 || name >= DXT_NAME_COUNT)
        return "?";
    return name_strings[name];
}

const char *dxt_unit_str(dxt_unit unit)
{
    return unit == DXT_UNIT_NS ? dxt_name_str(DXT_V_NS) : dxt_name_str(DXT_V_CYCLES);
}

const char *dxt_counting_str(dxt_counting counting)
{
    return counting == DXT_COUNTING_DELTA ? dxt_name_str(DXT_V_DELTA)
                                          : dxt_name_str(DXT_V_CUMULATIVE);
}

int dxt_unit_parse(const char *s, dxt_unit *out)
{
    if (s && strcmp(s, dxt_name_str(DXT_V_CYCLES)) == 0) {
        *out = DXT_UNIT_CYCLES;
        return 0;
    }
    if (s && strcmp(s, dxt_name_str(DXT_V_NS)) == 0) {
        *out = DXT_UNIT_NS;
        return 0;
    }
    return -1;
}

int dxt_counting_parse(const char *s, dxt_counting *out)
{
    if (s && strcmp(s, dxt_name_str(DXT_V_CUMULATIVE)) == 0) {
        *out = DXT_COUNTING_CUMULATIVE;
        return 0;
    }
    if (s && strcmp(s, dxt_name_str(DXT_V_DELTA)) == 0) {
        *out = DXT_COUNTING_DELTA;
        return 0;
    }
    return -1;
}

int dxt_fail(dxt_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static pthread_once_t h5_once = PTHREAD_ONCE_INIT;

static void h5_quiet_this_thread(void)
{
    /* Errors are reported through dxt_error; HDF5 must never print. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* HDF5 1.10 cannot close a file whose flush failed (ENOSPC, EIO): after the
 * failed flush every later flush fails too ("slist already enabled?"), so
 * H5Fclose fails and leaves a file id that points at freed memory; the exit
 * handler HDF5 registers (H5_term_library) then crashes on it (SIGSEGV at
 * exit on a full disk). The format module keeps no file open at exit that it
 * needs closed there (a writer's rows are safe as of its last flush), so the
 * handler is not registered when this module is the first to use HDF5. */
static void h5_first_use(void)
{
    H5dont_atexit();
    h5_quiet_this_thread();
}

void dxt_h5_init(void)
{
    pthread_once(&h5_once, h5_first_use);
#ifdef H5_HAVE_THREADSAFE
    /* A thread-safe HDF5 keeps the automatic-printing setting per thread
     * (Debian's build is one): switch it off once in every calling thread. */
    static _Thread_local int thread_done;
    if (!thread_done) {
        h5_quiet_this_thread();
        thread_done = 1;
    }
#endif
}

int64_t dxt_default_chunk_rows(int64_t world_size)
{
    const int64_t target = 256 * 1024, min_bytes = 64 * 1024, max_bytes = 1024 * 1024;
    int64_t row_bytes = (world_size > 0 ? world_size : 1) * (int64_t)sizeof(int64_t);
    int64_t rows = target / row_bytes;
    if (rows * row_bytes < min_bytes)
        rows = (min_bytes + row_bytes - 1) / row_bytes;
    if (rows * row_bytes > max_bytes)
        rows = max_bytes / row_bytes;
    return rows < 1 ? 1 : rows;
}
