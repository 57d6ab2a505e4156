/* partition.h - the windows of one op as the analysis driver (window.c) gets
 * them: from this process's stream alone (serial), or, in a partitioned run
 * (dxt_partition, dxtanalysis.h), merged from every process's rows. Internal to
 * the analyzer; no MPI here (the exchanges are the caller's hooks).
 * Owner: the parallel-analysis engineer (issue 15).
 *
 * A serial feed lends its stream's windows as they are (no copy). A
 * partitioned feed reads its own block of ranks one window ahead (lent by its
 * stream until the window is sent), and each
 * round every process says (allgather) whether it failed and which window it
 * holds next: the earliest is the window of the serial run (windows are aligned
 * on the same first step everywhere), the processes holding it send their rows
 * to process 0 in one gather (gather_rows; a rank's row packed with its tokens,
 * rows and steps), the others send none and keep theirs for a later round.
 * Process 0 gets every window (merged in its own buffers), with the serial
 * run's sums; the others get none (dxt_feed_next returns 0 once every process is done). */
#ifndef DXT_PARTITION_H
#define DXT_PARTITION_H

#include "input.h"

typedef struct dxt_feed {
    dxt_input *in;
    const dxt_partition *part;  /* NULL: this process reads every rank */
    dxt_op_stream *s;
    int n, with_tokens;
    int failed, ended, over;    /* this process failed / read its last window / rounds over */
    dxt_error local;            /* this process's failure, said at the next round */
    int nwarnings;              /* the input's warnings when the feed opened */
    /* partitioned: the next window of this process's block, read ahead (lent by
     * its stream), and at process 0 the window merged from every process's rows */
    int have_pending;
    dxt_window pend, merged;
    char *packed;               /* n rows of row_bytes: a window's rows as gathered */
    size_t row_bytes;
    /* fixed, so that no allocation can fail between the processes' exchanges */
    int64_t all[3 * DXT_PARTITION_MAX];  /* a round's exchange: 3 values a process */
    int block_first[DXT_PARTITION_MAX], block_rows[DXT_PARTITION_MAX];
    int send_rows[DXT_PARTITION_MAX];    /* rows each process sends this round */
} dxt_feed;

/* Open the windows of op over steps [from, to]: 0, or -1 with err (serial only:
 * a partitioned feed's failure is said at its first round, so the others are
 * not left waiting). Call dxt_feed_close whatever it returns. */
int dxt_feed_open(dxt_feed *f, dxt_input *in, int op, int64_t from, int64_t to,
                  int64_t window_steps, const dxt_partition *part, dxt_error *err);

/* As dxt_op_stream_lend (input.h): the window lent until the next call or the
 * close (tokens NULL when the op has none). In a partitioned run only process 0
 * gets windows (the others 0 at the end). */
int dxt_feed_next(dxt_feed *f, dxt_window *w, dxt_error *err);

double dxt_feed_progress(const dxt_feed *f);

/* Close: rc is this process's result so far (0: every window was taken). A
 * process that failed before the rounds were over says so to the others; when
 * all went well, the warnings of the other processes' streams go to process 0's
 * input after its own, in rank order as in a serial run. Returns the agreed
 * result, with err. */
int dxt_feed_close(dxt_feed *f, int rc, dxt_error *err);

#endif
