/* par_for.c - the loader's parallel for (par_for.h): workers sleep on a
 * condition until a run starts (a new generation), claim items under the lock
 * until none is left, and the last one to finish wakes the caller.
 * Owner: the loader/report engineer (A2; issue 15). */
#include "par_for.h"
#include "input.h" /* dxt_set_error */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PAR_MAX_THREADS 256

struct dxt_par {
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    int nworkers, stopping;
    unsigned long generation;   /* runs started */
    int next, count, busy;      /* next item to claim, items, workers still in the run */
    dxt_par_fn fn;
    void *ctx;
    pthread_t workers[PAR_MAX_THREADS];
};

typedef struct worker_arg {
    dxt_par *p;
    int thread;
} worker_arg;

/* Claim and run items of the current run (lock held on entry and exit). */
static void run_items(dxt_par *p, int thread)
{
    while (p->next < p->count) {
        int item = p->next++;
        pthread_mutex_unlock(&p->lock);
        p->fn(p->ctx, thread, item);
        pthread_mutex_lock(&p->lock);
    }
}

static void *worker_main(void *arg)
{
    worker_arg *w = arg;
    dxt_par *p = w->p;
    int thread = w->thread;
    free(w);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stopping && p->generation == seen)
            pthread_cond_wait(&p->start, &p->lock);
        if (p->stopping)
            break;
        seen = p->generation;
        run_items(p, thread);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int dxt_par_default_threads(void)
{
    const char *env = getenv("DXT_THREADS");
    if (env && *env) {
        char *end = NULL;
        long v = strtol(env, &end, 10);
        if (end && *end == '\0' && v >= 1 && v <= PAR_MAX_THREADS)
            return (int)v;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > PAR_MAX_THREADS ? PAR_MAX_THREADS : (int)cpus;
}

int dxt_par_create(int threads, dxt_par **out, dxt_error *err)
{
    *out = NULL;
    if (threads < 1 || threads > PAR_MAX_THREADS) {
        dxt_set_error(err, "threads %d not in 1..%d", threads, PAR_MAX_THREADS);
        return -1;
    }
    dxt_par *p = calloc(1, sizeof *p);
    if (!p || pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        dxt_set_error(err, "out of memory for the loader's threads");
        return -1;
    }
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < threads - 1; i++) {
        worker_arg *w = malloc(sizeof *w);
        if (!w)
            break;
        *w = (worker_arg){p, i + 1};
        if (pthread_create(&p->workers[i], NULL, worker_main, w) != 0) {
            free(w);
            break; /* fewer workers: the caller's thread does the rest */
        }
        p->nworkers++;
    }
    *out = p;
    return 0;
}

int dxt_par_threads(const dxt_par *p)
{
    return p->nworkers + 1;
}

void dxt_par_run(dxt_par *p, int count, dxt_par_fn fn, void *ctx)
{
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->next = 0;
    p->count = count;
    p->busy = p->nworkers;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    run_items(p, 0);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void dxt_par_free(dxt_par *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
