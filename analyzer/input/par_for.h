/* par_for.h - a parallel for over items 0 .. count - 1 in a pool of threads
 * kept for the loader's window passes (load_stream.c: one item a rank). The
 * calling thread works too (thread 0), so a pool of T threads has T - 1
 * workers; items are claimed one at a time, in order. No HDF5 here.
 * Hand-written rather than OpenMP: libgomp's own threads and barriers are not
 * understood by ThreadSanitizer (`make test-threads` would report them), and
 * one persistent pool a trace, reused by every pass, is all the loader needs.
 * Internal to the analyzer. Owner: the loader/report engineer (A2; issue 15). */
#ifndef DXT_PAR_FOR_H
#define DXT_PAR_FOR_H

#include "dxt_format.h"

typedef struct dxt_par dxt_par;
/* One item on thread `thread` (0 .. threads - 1: per-thread state). */
typedef void (*dxt_par_fn)(void *ctx, int thread, int item);

/* threads: 1 .. 256, the caller's included. 0 or -1 with err. */
int dxt_par_create(int threads, dxt_par **out, dxt_error *err);
/* Threads that run items (fewer than asked when a thread could not start). */
int dxt_par_threads(const dxt_par *p);
/* fn(ctx, thread, k) for every k < count; returns when all have returned. */
void dxt_par_run(dxt_par *p, int count, dxt_par_fn fn, void *ctx);
/* Threads by default: DXT_THREADS from the environment when set (1 .. 256),
 * else the online CPUs. */
int dxt_par_default_threads(void);
/* Stops and joins the workers. */
void dxt_par_free(dxt_par *p);

#endif
