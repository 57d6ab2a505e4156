/* test_device_cuda.c - cmocka tests of libdxtrec's CUDA path (recorder/dxtrec_cuda.c)
 * on any machine, GPU or not, on the fake GPU of tests/fake_cuda.h (CUDA runtime
 * functions that take precedence over libcudart's). The step path
 * (dxtrec_attach_device, dxtrec_step_device) is tests/test_steps_cuda.c.
 * Checks: rows equal the counters after the work queued before each record;
 * GPU name/UUID and the per-row measured clock in the file; a full pool drops
 * and counts; a graph capture is refused without touching the stream; a copy
 * error is counted; close waits for copies still in flight (and gives up
 * after DXTREC_DEVICE_DRAIN_S); nothing but one event goes on the caller's
 * stream; several threads at once; no device at all. The real GPU runs are
 * tests/gpu/run.sh.
 *
 * Owner: the GPU side of dxtrace. Built where nvcc is found (DXT_HAVE_CUDA). */
#ifndef DXT_HAVE_CUDA
#include <stdio.h>
int main(void)
{
    printf("SKIP test_device_cuda: libdxtrec built without CUDA\n");
    return 0;
}
#else
#include "fake_cuda.h"

/* ---- tests -------------------------------------------------------------------- */

static void test_rows_meta_and_clock(void **state)
{
    (void)state;
    enum { STEPS = 10 };
    int64_t dev[2 * N], vals[2 * N];
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    for (int step = 0; step < STEPS; step++) {
        for (int j = 0; j < 2 * N; j++)
            vals[j] = j < N ? (int64_t)(step + 1) * (j + 1) : step + j;
        user_write(s, dev, vals, 2 * N);
        assert_int_equal(dxtrec_record_device(rec, 1, step, dev, dev + N, s), DXTREC_SUCCESS);
        wait_gpu_idle(); /* the next write must not overtake this copy (a real race too) */
        if (step == 0)
            sleep_ms(60); /* a calibration or two */
    }
    assert_int_equal(s->ops_queued, 2 * STEPS); /* per record, one event on the caller's stream */
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);

    dxt_reader *r = open_file();
    const dxt_meta *m = dxt_reader_meta(r);
    assert_string_equal(m->gpu_name, "Fake GPU");
    assert_string_equal(m->gpu_uuid, "GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
    assert_true(m->clock_hz == 1.98e9);
    const int op = file_op(r, 1);
    const dxt_op_info *info = dxt_reader_op(r, op);
    assert_int_equal(info->rows, STEPS);
    assert_true(info->has_clock_hz && info->has_tokens);
    int64_t step[STEPS], wait[STEPS * N], tokens[STEPS * N];
    double hz[STEPS];
    dxt_error err;
    assert_int_equal(dxt_reader_read(r, op, 0, STEPS, step, NULL, wait, tokens, hz, &err), STEPS);
    for (int t = 0; t < STEPS; t++) {
        assert_int_equal(step[t], t);
        for (int j = 0; j < N; j++) {
            assert_int_equal(wait[t * N + j], (int64_t)(t + 1) * (j + 1));
            assert_int_equal(tokens[t * N + j], t + N + j);
        }
    }
    assert_true(fabs(hz[STEPS - 1] - FAKE_RATE_HZ) < 1.0);
    dxt_reader_close(r);
}

static void test_waits_for_queued_work(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0}, vals[2 * N] = {7, 7, 7, 7, 1, 1, 1, 1};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    gpu_pause(1);
    user_write(s, dev, vals, 2 * N);
    assert_int_equal(dxtrec_record_device(rec, 0, 0, dev, dev + N, s), DXTREC_SUCCESS);
    sleep_ms(20);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    assert_int_equal(c.rows_recorded, 0); /* the stream has not reached the record yet */
    gpu_pause(0);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    dxt_reader *r = open_file();
    int64_t wait[N];
    dxt_error err;
    assert_int_equal(dxt_reader_read(r, file_op(r, 0), 0, 1, NULL, NULL, wait, NULL, NULL, &err),
                     1);
    assert_int_equal(wait[0], 7);
    dxt_reader_close(r);
}

static void test_pool_full_drops(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(16, 2); /* a pool of 16 slots */
    gpu_pause(1);
    for (int step = 0; step < 20; step++)
        assert_int_equal(dxtrec_record_device(rec, 0, step, dev, NULL, s),
                         step < 16 ? DXTREC_SUCCESS : DXTREC_ERR_DROPPED);
    gpu_pause(0);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    dxt_reader *r = open_file();
    assert_int_equal(dxt_reader_op(r, file_op(r, 0))->rows, 16);
    assert_int_equal(dxt_reader_op(r, file_op(r, 0))->rows_dropped, 4);
    dxt_reader_close(r);
}

static void test_capture_and_copy_errors(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    s->capturing = 1;
    assert_int_equal(dxtrec_record_device(rec, 0, 0, dev, NULL, s), DXTREC_ERR_CUDA);
    assert_int_equal(s->ops_queued, 0); /* the capture was not touched */
    s->capturing = 0;
    gpu.fail_copies = 1;
    assert_int_equal(dxtrec_record_device(rec, 0, 1, dev, NULL, s), DXTREC_ERR_CUDA);
    gpu.fail_copies = 0;
    assert_int_equal(dxtrec_record_device(rec, 0, 2, dev, NULL, s), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_record_device(NULL, 0, 3, dev, NULL, s), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_record_device(rec, 2, 3, dev, NULL, s), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_record_device(rec, 0, 3, NULL, NULL, s), DXTREC_ERR_INVALID_ARG);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    assert_int_equal(c.rows_dropped, 2);
    assert_int_equal(c.last_error, DXTREC_ERR_CUDA);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    assert_int_equal(file_rows(0), 1);
}

static void *unpause_later(void *arg)
{
    (void)arg;
    sleep_ms(100);
    gpu_pause(0);
    return NULL;
}

static void test_close_waits_for_copies(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    pthread_t t;
    gpu_pause(1);
    for (int step = 0; step < 5; step++)
        assert_int_equal(dxtrec_record_device(rec, 0, step, dev, NULL, s), DXTREC_SUCCESS);
    assert_int_equal(pthread_create(&t, NULL, unpause_later, NULL), 0);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    pthread_join(t, NULL);
    assert_int_equal(file_rows(0), 5);
}

/* Rows arriving faster than the pool drains at the idle writer's longest sleep. */
static void test_burst_after_idle(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(256, 2); /* a pool of 256 slots */
    sleep_ms(300);                    /* the idle writer sleeps its longest (50 ms) by now */
    assert_false(atomic_load(&rec->device_active));
    int failed = 0, inactive = 0; /* asserted after close: a failure leaves no writer running */
    for (int step = 0; step < 600; step++) { /* 600 rows in ~60 ms: 256 in 25 ms */
        failed += dxtrec_record_device(rec, 0, step, dev, NULL, s) != DXTREC_SUCCESS;
        inactive += !atomic_load(&rec->device_active); /* the writer polls at 1 ms from now */
        for (double until = now_s() + 100e-6; now_s() < until;) {
        }
    }
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    assert_int_equal(inactive, 0);
    assert_int_equal(failed, 0);
    assert_int_equal(file_rows(0), 600);
}

static void test_close_gives_up_on_a_stuck_stream(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    gpu_pause(1); /* the caller's stream never gets there */
    assert_int_equal(dxtrec_record_device(rec, 0, 0, dev, NULL, s), DXTREC_SUCCESS);
    double t0 = now_s();
    dxtrec_close(rec);
    double took = now_s() - t0;
    assert_true(took < 2.0 + 1.5); /* DXTREC_DEVICE_DRAIN_S, then it closes */
    gpu_pause(0);
    assert_int_equal(file_rows(0), 0);
}

static void test_no_device(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    gpu.present = 0;
    dxtrec_t *rec = open_rec(64, 2);
    assert_int_equal(dxtrec_record_device(rec, 0, 0, dev, NULL, NULL), DXTREC_ERR_CUDA);
    assert_int_equal(dxtrec_record(rec, 0, 1, dev, NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    dxt_reader *r = open_file();
    assert_string_equal(dxt_reader_meta(r)->gpu_name, "");
    assert_int_equal(dxt_reader_op(r, file_op(r, 0))->rows, 1);
    assert_false(dxt_reader_op(r, file_op(r, 0))->has_clock_hz);
    dxt_reader_close(r);
}

enum { THREADS = 4, THREAD_ROWS = 200 }; /* 800 rows: fewer than the pool's 1024 slots */
typedef struct {
    dxtrec_t *rec;
    int op;
    cudaStream_t s;
    int64_t dev[2 * N];
    int failures, last_failure;
} rec_job;

static void *record_many(void *arg)
{
    rec_job *job = arg;
    for (int step = 0; step < THREAD_ROWS; step++) {
        dxtrecResult_t res =
            dxtrec_record_device(job->rec, job->op, step, job->dev, job->dev + N, job->s);
        if (res != DXTREC_SUCCESS) {
            job->failures++;
            job->last_failure = res;
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    dxtrec_t *rec = open_rec(4096, THREADS);
    rec_job jobs[THREADS];
    pthread_t t[THREADS];
    int64_t dev[2 * N] = {0};
    /* the first record sets the pool up; records meeting a set-up in progress are dropped */
    assert_int_equal(dxtrec_record_device(rec, 0, -1, dev, NULL, user_stream()), DXTREC_SUCCESS);
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (rec_job){.rec = rec, .op = i, .s = user_stream()};
        assert_int_equal(pthread_create(&t[i], NULL, record_many, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        if (jobs[i].failures)
            fail_msg("thread %d: %d records failed, the last with %s", i, jobs[i].failures,
                     dxtrec_result_string(jobs[i].last_failure));
    }
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(file_rows(i), THREAD_ROWS + (i == 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rows_meta_and_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waits_for_queued_work, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_full_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_and_copy_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_waits_for_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_after_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_gives_up_on_a_stuck_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
