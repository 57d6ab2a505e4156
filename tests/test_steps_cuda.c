/* test_steps_cuda.c - cmocka tests of libdxtrec's capture-safe step path
 * (dxtrec_attach_device, dxtrec_step_device: recorder/steps_cuda.c) on the fake
 * GPU of tests/fake_cuda.h, whose model of the step kernel follows
 * recorder/step_kernel.cu. Checks: every attached op's rows equal its counters
 * after the work queued before each step, tokens where attached, times on the
 * Unix clock, the measured clock; one launch is all the caller's stream gets;
 * a ring that overflows drops whole steps on the device and counts them (and
 * never overwrites); a captured step is a root node of the graph, not a
 * launch, and its replays add rows numbered on from the last step (the
 * previous replay's row at the start of each; the last one at close, or in
 * the next eager step's place), a replay of two steps one row; the host ring smaller than what waits in the step ring;
 * API errors (before attach, bad op, host pointer, no device) with messages;
 * every op of the largest recorder; steps still queued at close are counted
 * in the file; the writer drains without any copy or synchronize; a small
 * ring drained while the GPU writes it in overflowing bursts (every step
 * written or counted, no row torn or out of order); DXTREC_STEP_PDL=1 launches.
 * The real GPU runs are tests/gpu/test_graph.py.
 *
 * Owner: the GPU side of dxtrace. Built where nvcc is found (DXT_HAVE_CUDA). */
#ifndef DXT_HAVE_CUDA
/* A build without CUDA: every device function says so, in the last error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dxtrec.h"

static void test_no_cuda_is_said(void **state)
{
    (void)state;
    char dir[] = "/tmp/dxtrec-nocuda-XXXXXX", msg[512], path[64];
    const char *ops[] = {"dispatch"};
    int64_t counters[4] = {0};
    assert_non_null(mkdtemp(dir));
    dxtrec_config cfg;
    dxtrec_t *rec = NULL;
    dxtrec_config_init(&cfg);
    cfg.dir = dir, cfg.world_size = 4, cfg.run_id = "nocuda", cfg.ops = ops, cfg.nops = 1;
    cfg.quiet = 1;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_attach_device(rec, 0, counters, NULL), DXTREC_ERR_NO_CUDA);
    assert_int_equal(dxtrec_last_error(rec, msg, sizeof(msg)), DXTREC_ERR_NO_CUDA);
    assert_non_null(strstr(msg, "dxtrec_attach_device: this libdxtrec was built without CUDA"));
    assert_int_equal(dxtrec_step_device(rec, 0, NULL), DXTREC_ERR_NO_CUDA);
    assert_int_equal(dxtrec_record_device(rec, 0, 0, counters, NULL, NULL), DXTREC_ERR_NO_CUDA);
    dxtrec_last_error(rec, msg, sizeof(msg));
    assert_non_null(strstr(msg, "dxtrec_record_device: this libdxtrec was built without CUDA"));
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    snprintf(path, sizeof(path), "%s/rank-00000.h5", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_no_cuda_is_said)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
#include "fake_cuda.h"

/* world_size N counters (and N tokens) of one op, in fake device memory */
static int64_t *dev_counters(void)
{
    int64_t *p = NULL;
    assert_int_equal(cudaMalloc((void **)&p, 2 * N * sizeof(int64_t)), cudaSuccess);
    return p;
}

/* What a DeepEP kernel leaves in op k's counters before step t. */
static void step_values(int k, int t, int64_t *vals)
{
    for (int j = 0; j < N; j++) {
        vals[j] = (int64_t)(t + 1) * (j + 1) * (k + 1);
        vals[N + j] = t + j;
    }
}

static void read_rows(int op, int64_t rows, int64_t *step, int64_t *wait, int64_t *tokens,
                      int64_t *time_ns)
{
    dxt_reader *r = open_file();
    dxt_error err;
    assert_int_equal(dxt_reader_op(r, file_op(r, op))->rows, rows);
    assert_int_equal(dxt_reader_read(r, file_op(r, op), 0, rows, step, time_ns, wait, tokens,
                                     NULL, &err),
                     rows);
    dxt_reader_close(r);
}

/* Hold the writer off the step ring (held 1) or let it drain again (0). */
static void hold_writer(dxtrec_t *rec, int held)
{
    if (!held) {
        atomic_store(&rec->test_hold_steps, 0);
        return;
    }
    atomic_store(&rec->test_steps_held, 0);
    atomic_store(&rec->test_hold_steps, 1);
    for (double until = now_s() + 5; !atomic_load(&rec->test_steps_held); sleep_ms(1))
        if (now_s() > until)
            fail_msg("the writer did not poll within 5 s");
}

/* STEPS steps of ops 0 and 1 (n values written per op) while the writer
 * leaves the ring alone, so that it fills; then the writer drains again. */
static void steps_with_writer_held(dxtrec_t *rec, cudaStream_t s, int64_t *const dev[2],
                                   int steps, int n)
{
    int64_t vals[2 * N];
    hold_writer(rec, 1);
    for (int t = 0; t < steps; t++) {
        for (int k = 0; k < 2; k++) {
            step_values(k, t, vals);
            user_write(s, dev[k], vals, n);
        }
        assert_int_equal(dxtrec_step_device(rec, t, s), DXTREC_SUCCESS);
    }
    wait_gpu_idle();
    hold_writer(rec, 0);
}

static void test_rows_of_every_op(void **state)
{
    (void)state;
    enum { STEPS = 40 };
    int64_t *dev[2] = {dev_counters(), dev_counters()}, vals[2 * N];
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    assert_int_equal(dxtrec_attach_device(rec, 0, dev[0], dev[0] + N), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_attach_device(rec, 1, dev[1], NULL), DXTREC_SUCCESS);
    const long queued_before = s->ops_queued;
    for (int t = 0; t < STEPS; t++) {
        if (t == STEPS / 2)
            gpu_pause(1); /* the host runs ahead of the GPU for a while */
        for (int k = 0; k < 2; k++) {
            step_values(k, t, vals);
            user_write(s, dev[k], vals, 2 * N);
        }
        assert_int_equal(dxtrec_step_device(rec, 100 + t, s), DXTREC_SUCCESS);
        if (t == 0)
            sleep_ms(60); /* a calibration or two */
    }
    assert_int_equal(s->ops_queued - queued_before, 3 * STEPS); /* 2 writes + 1 launch */
    gpu_pause(0);
    const int64_t before = dxtrec_now_realtime_ns();
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);

    int64_t step[STEPS], wait[STEPS * N], tokens[STEPS * N], time_ns[STEPS];
    for (int k = 0; k < 2; k++) {
        read_rows(k, STEPS, step, wait, tokens, time_ns);
        for (int t = 0; t < STEPS; t++) {
            step_values(k, t, vals);
            assert_int_equal(step[t], 100 + t);
            assert_memory_equal(wait + t * N, vals, N * sizeof(int64_t));
            for (int j = 0; j < N; j++) /* op 1 has no tokens attached: unknown (-1) */
                assert_int_equal(tokens[t * N + j], k == 0 ? vals[N + j] : -1);
            /* %globaltimer 5 us behind the Unix clock in the fake: the offset puts it back */
            assert_true(llabs(time_ns[t] - before) < 5000000000LL);
            assert_true(t == 0 || time_ns[t] >= time_ns[t - 1]);
        }
    }
    dxt_reader *r = open_file();
    assert_true(dxt_reader_op(r, file_op(r, 0))->has_clock_hz);
    dxt_reader_close(r);
}

/* The writer held off: the ring (4 slots) takes 4 steps and drops the rest
 * on the GPU, counted with their steps; what it holds is never overwritten. */
static void test_full_ring_drops_whole_steps(void **state)
{
    (void)state;
    enum { STEPS = 20, RING = 4 };
    int64_t *dev[2] = {dev_counters(), dev_counters()}, vals[2 * N];
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(RING, 2);
    assert_int_equal(dxtrec_attach_device(rec, 0, dev[0], NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_attach_device(rec, 1, dev[1], NULL), DXTREC_SUCCESS);
    steps_with_writer_held(rec, s, dev, STEPS, 2 * N);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    dxt_reader *r = open_file();
    for (int k = 0; k < 2; k++) {
        const dxt_op_info *info = dxt_reader_op(r, file_op(r, k));
        assert_int_equal(info->rows, RING);
        assert_int_equal(info->rows_dropped, STEPS - RING);
        assert_int_equal(info->dropped_first_step, RING);
        assert_int_equal(info->dropped_last_step, STEPS - 1);
    }
    dxt_reader_close(r);
    int64_t step[RING], wait[RING * N];
    read_rows(1, RING, step, wait, NULL, NULL);
    for (int t = 0; t < RING; t++) {
        step_values(1, t, vals);
        assert_int_equal(step[t], t);
        assert_memory_equal(wait + t * N, vals, N * sizeof(int64_t));
    }
}

/* Eager steps 0..2, a capture (its step argument ignored), R replays, then
 * an automatic eager step. The capture queues nothing on the stream: its
 * graph gets one root node, which records the previous replay's row at the
 * start of each replay: rows 0 .. 2 + R - 1 (the first replay finds no row
 * pending), then the eager step, numbered 3 + R: it takes the last replay's
 * row's place (step 2 + R has no row; its counts are in row 3 + R). */
static void test_captured_step_replayed(void **state)
{
    (void)state;
    enum { EAGER = 3, R = 50 };
    int64_t *dev = dev_counters(), vals[2 * N];
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(4096, 1);
    assert_int_equal(dxtrec_attach_device(rec, 0, dev, NULL), DXTREC_SUCCESS);
    for (int t = 0; t < EAGER; t++) {
        step_values(0, 0, vals);
        user_write(s, dev, vals, N);
        assert_int_equal(dxtrec_step_device(rec, t, s), DXTREC_SUCCESS);
    }
    fake_capture(s, 1);
    step_values(0, 1, vals);
    user_write(s, dev, vals, N);
    assert_int_equal(dxtrec_step_device(rec, 12345, s), DXTREC_SUCCESS);
    fake_capture(s, 0);
    assert_int_equal(gpu.graph_ops, 1); /* the user's write; the step is the root node */
    for (int r = 0; r < R; r++)
        fake_replay(s);
    assert_int_equal(dxtrec_step_device(rec, DXTREC_STEP_AUTO, s), DXTREC_SUCCESS);
    wait_gpu_idle();
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    enum { ROWS = EAGER + R };
    int64_t step[ROWS], wait[ROWS * N];
    read_rows(0, ROWS, step, wait, NULL, NULL);
    for (int t = 0; t < ROWS; t++) {
        assert_int_equal(step[t], t < ROWS - 1 ? t : EAGER + R);
        step_values(0, t >= EAGER ? 1 : 0, vals);
        assert_memory_equal(wait + t * N, vals, N * sizeof(int64_t));
    }
}

/* A graph of two steps (two step() calls captured), replayed R times with
 * the counters changed between replays, and no eager step: one row per
 * replay, numbered 1, 3, 5, ... (a replay is two steps; a row is its last),
 * each the counters as the next replay found them; close takes the last. */
static void test_graph_of_two_steps(void **state)
{
    (void)state;
    enum { R = 6 };
    int64_t *dev = dev_counters(), vals[2 * N];
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(4096, 1);
    assert_int_equal(dxtrec_attach_device(rec, 0, dev, NULL), DXTREC_SUCCESS);
    fake_capture(s, 1);
    assert_int_equal(dxtrec_step_device(rec, 0, s), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_step_device(rec, 1, s), DXTREC_SUCCESS);
    fake_capture(s, 0);
    assert_int_equal(gpu.graph_ops, 0);
    for (int r = 0; r < R; r++) {
        step_values(0, r, vals);
        user_write(s, dev, vals, N);
        fake_replay(s);
    }
    wait_gpu_idle();
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    int64_t step[R], wait[R * N];
    read_rows(0, R, step, wait, NULL, NULL);
    for (int k = 0; k < R; k++) {
        assert_int_equal(step[k], 2 * k + 1);
        step_values(0, k < R - 1 ? k + 1 : R - 1, vals);
        assert_memory_equal(wait + k * N, vals, N * sizeof(int64_t));
    }
}

/* The step ring full (4 steps of 2 ops) while the writer is held off, then
 * drained through a host ring of 4 rows: 2 steps per poll leave the step
 * ring, the rest wait there; nothing is lost. */
static void test_small_host_ring(void **state)
{
    (void)state;
    enum { STEPS = 4 };
    int64_t *dev[2] = {dev_counters(), dev_counters()}, vals[2 * N];
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(STEPS, 2);
    for (int k = 0; k < 2; k++)
        assert_int_equal(dxtrec_attach_device(rec, k, dev[k], NULL), DXTREC_SUCCESS);
    steps_with_writer_held(rec, s, dev, STEPS, N);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    int64_t step[STEPS], wait[STEPS * N];
    for (int k = 0; k < 2; k++) {
        read_rows(k, STEPS, step, wait, NULL, NULL);
        for (int t = 0; t < STEPS; t++) {
            step_values(k, t, vals);
            assert_int_equal(step[t], t);
            assert_memory_equal(wait + t * N, vals, N * sizeof(int64_t));
        }
    }
    dxt_reader *r = open_file();
    assert_int_equal(dxt_reader_op(r, file_op(r, 0))->rows_dropped, 0);
    dxt_reader_close(r);
}

static void test_api_errors(void **state)
{
    (void)state;
    char msg[512];
    int64_t host[2 * N] = {0}, *dev = dev_counters();
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    assert_int_equal(dxtrec_step_device(NULL, 0, s), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_attach_device(NULL, 0, dev, NULL), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_step_device(rec, 0, s), DXTREC_ERR_INVALID_ARG);
    dxtrec_last_error(rec, msg, sizeof(msg));
    assert_non_null(strstr(msg, "before any dxtrec_attach_device"));
    assert_int_equal(dxtrec_attach_device(rec, 2, dev, NULL), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_attach_device(rec, -1, dev, NULL), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_attach_device(rec, 0, NULL, dev), DXTREC_ERR_INVALID_ARG);
    dxtrec_last_error(rec, msg, sizeof(msg));
    assert_non_null(strstr(msg, "op -1 not in 0..1") || strstr(msg, "tokens without wait"));
    assert_int_equal(dxtrec_attach_device(rec, 0, host, NULL), DXTREC_ERR_INVALID_ARG);
    dxtrec_last_error(rec, msg, sizeof(msg));
    assert_non_null(strstr(msg, "not device memory"));
    assert_int_equal(dxtrec_attach_device(rec, 0, dev, host), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_attach_device(rec, 0, dev, NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_attach_device(rec, 0, NULL, NULL), DXTREC_SUCCESS); /* detach */
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);

    gpu.present = 0;
    rec = open_rec(64, 2);
    assert_int_equal(dxtrec_attach_device(rec, 0, dev, NULL), DXTREC_ERR_CUDA);
    dxtrec_last_error(rec, msg, sizeof(msg));
    assert_non_null(strstr(msg, "attach_device"));
    assert_int_equal(dxtrec_step_device(rec, 0, s), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
}

/* Every op of the largest recorder, attached and recorded in one step. */
static void test_most_ops(void **state)
{
    (void)state;
    const int nops = dxtrec_max_ops();
    char names[DXT_MAX_OPS][24];
    const char *ops[DXT_MAX_OPS];
    int64_t *dev = dev_counters(), vals[2 * N];
    for (int k = 0; k < nops; k++) {
        snprintf(names[k], sizeof(names[k]), "dispatch.l%d", k);
        ops[k] = names[k];
    }
    dxtrec_config cfg;
    dxtrec_t *rec = NULL;
    dxtrec_config_init(&cfg);
    cfg.dir = tmpdir, cfg.world_size = N, cfg.run_id = "steps", cfg.quiet = 1;
    cfg.compress_level = 0; /* hundreds of ops: compressing at close is slow (format/) */
    cfg.ops = ops, cfg.nops = nops + 1;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_ERR_INVALID_ARG);
    cfg.nops = nops;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_SUCCESS);
    cudaStream_t s = user_stream();
    step_values(0, 6, vals);
    user_write(s, dev, vals, N);
    for (int k = 0; k < nops; k++)
        assert_int_equal(dxtrec_attach_device(rec, k, dev, NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_step_device(rec, 7, s), DXTREC_SUCCESS);
    wait_gpu_idle();
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    dxt_reader *r = open_file();
    dxt_error err;
    for (int k = 0; k < nops; k++) {
        int64_t step, wait[N];
        const int i = dxt_reader_find_op(r, names[k]);
        assert_true(i >= 0);
        assert_int_equal(dxt_reader_read(r, i, 0, 1, &step, NULL, wait, NULL, NULL, &err), 1);
        assert_int_equal(step, 7);
        assert_memory_equal(wait, vals, N * sizeof(int64_t));
    }
    dxt_reader_close(r);
}

/* Steps still queued behind a stuck stream at close: waited for, then counted. */
static void test_close_counts_queued_steps(void **state)
{
    (void)state;
    int64_t *dev = dev_counters();
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    assert_int_equal(dxtrec_attach_device(rec, 1, dev, NULL), DXTREC_SUCCESS);
    struct CUevent_st never = {0};
    pthread_mutex_lock(&gpu.lock);
    enqueue(s, (fake_op){.kind = OP_WAIT, .event = &never}); /* the stream is stuck */
    pthread_mutex_unlock(&gpu.lock);
    for (int t = 0; t < 3; t++)
        assert_int_equal(dxtrec_step_device(rec, t, s), DXTREC_SUCCESS);
    const double t0 = now_s();
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    assert_true(now_s() - t0 >= DXTREC_DEVICE_DRAIN_S * 0.9);
    pthread_mutex_lock(&gpu.lock);
    never.complete = 1; /* let the fake GPU go idle */
    pthread_mutex_unlock(&gpu.lock);
    wait_gpu_idle();
    dxt_reader *r = open_file(); /* counted in the file, before it was closed */
    const dxt_op_info *info = dxt_reader_op(r, file_op(r, 1));
    assert_int_equal(info->rows, 0);
    assert_int_equal(info->rows_dropped, 3);
    assert_int_equal(info->dropped_first_step, 0);
    assert_int_equal(info->dropped_last_step, 2);
    dxt_reader_close(r);
}

/* While steps run, the writer drains the ring without a single copy or
 * synchronize (issue 17: its CUDA calls contended with the job's launches). */
static void test_writer_makes_no_copies(void **state)
{
    (void)state;
    enum { STEPS = 300 };
    int64_t *dev[2] = {dev_counters(), dev_counters()}, vals[2 * N];
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(4096, 2);
    for (int k = 0; k < 2; k++)
        assert_int_equal(dxtrec_attach_device(rec, k, dev[k], NULL), DXTREC_SUCCESS);
    const long before = atomic_load(&gpu.writer_copy_calls);
    for (int t = 0; t < STEPS; t++) {
        for (int k = 0; k < 2; k++) {
            step_values(k, t, vals);
            user_write(s, dev[k], vals, N);
        }
        assert_int_equal(dxtrec_step_device(rec, t, s), DXTREC_SUCCESS);
        if (t % 30 == 0)
            sleep_ms(20); /* several polls of the writer while steps arrive */
    }
    wait_gpu_idle();
    assert_int_equal(dxtrec_flush(rec), DXTREC_SUCCESS);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    assert_int_equal(c.rows_written, 2 * STEPS);
    assert_int_equal(atomic_load(&gpu.writer_copy_calls) - before, 0);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
}

/* A ring of 8 slots drained while the GPU writes it, in bursts that overflow
 * it: every step is written or counted as dropped, and every row written is
 * its own step's, in order (a slot is never read half written nor
 * overwritten before it is read). */
static void test_drain_while_gpu_writes(void **state)
{
    (void)state;
    enum { BURSTS = 40, BURST = 50, STEPS = BURSTS * BURST, RING = 8 };
    int64_t *dev[2] = {dev_counters(), dev_counters()}, vals[2 * N];
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(RING, 2);
    for (int k = 0; k < 2; k++)
        assert_int_equal(dxtrec_attach_device(rec, k, dev[k], dev[k] + N), DXTREC_SUCCESS);
    for (int t = 0; t < STEPS; t++) {
        for (int k = 0; k < 2; k++) {
            step_values(k, t, vals);
            user_write(s, dev[k], vals, 2 * N);
        }
        assert_int_equal(dxtrec_step_device(rec, t, s), DXTREC_SUCCESS);
        if (t % BURST == BURST - 1)
            sleep_ms(2);
    }
    wait_gpu_idle();
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    static int64_t step[STEPS], wait[STEPS * N], tokens[STEPS * N];
    dxt_reader *r = open_file();
    dxt_error err;
    for (int k = 0; k < 2; k++) {
        const dxt_op_info *info = dxt_reader_op(r, file_op(r, k));
        const int64_t rows = info->rows;
        assert_int_equal(rows + info->rows_dropped, STEPS);
        assert_true(rows >= RING && info->rows_dropped > 0);
        assert_int_equal(dxt_reader_read(r, file_op(r, k), 0, rows, step, NULL, wait, tokens,
                                         NULL, &err),
                         rows);
        for (int64_t i = 0; i < rows; i++) {
            assert_true(step[i] >= 0 && step[i] < STEPS && (i == 0 || step[i] > step[i - 1]));
            step_values(k, (int)step[i], vals);
            assert_memory_equal(wait + i * N, vals, N * sizeof(int64_t));
            assert_memory_equal(tokens + i * N, vals + N, N * sizeof(int64_t));
        }
    }
    dxt_reader_close(r);
}

/* DXTREC_STEP_PDL=1 at the first attach: every eager launch asks for
 * programmatic stream serialization (a captured step is a root node: not
 * launched), and the rows are the same. */
static void test_pdl_launches(void **state)
{
    (void)state;
    enum { STEPS = 5, R = 3 };
    int64_t *dev = dev_counters(), vals[2 * N];
    cudaStream_t s = user_stream();
    setenv("DXTREC_STEP_PDL", "1", 1);
    dxtrec_t *rec = open_rec(64, 1);
    assert_int_equal(dxtrec_attach_device(rec, 0, dev, NULL), DXTREC_SUCCESS);
    unsetenv("DXTREC_STEP_PDL");
    const long before = atomic_load(&fake_pdl_launches);
    for (int t = 0; t < STEPS; t++) {
        step_values(0, t, vals);
        user_write(s, dev, vals, N);
        assert_int_equal(dxtrec_step_device(rec, t, s), DXTREC_SUCCESS);
    }
    fake_capture(s, 1);
    assert_int_equal(dxtrec_step_device(rec, 0, s), DXTREC_SUCCESS);
    fake_capture(s, 0);
    for (int r = 0; r < R; r++)
        fake_replay(s);
    assert_int_equal(atomic_load(&fake_pdl_launches) - before, STEPS);
    wait_gpu_idle();
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    int64_t step[STEPS + R], wait[(STEPS + R) * N];
    read_rows(0, STEPS + R, step, wait, NULL, NULL);
    for (int t = 0; t < STEPS + R; t++) {
        step_values(0, t < STEPS ? t : STEPS - 1, vals);
        assert_int_equal(step[t], t);
        assert_memory_equal(wait + t * N, vals, N * sizeof(int64_t));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rows_of_every_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_ring_drops_whole_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_captured_step_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_of_two_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_host_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_most_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_counts_queued_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_makes_no_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_while_gpu_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pdl_launches, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
