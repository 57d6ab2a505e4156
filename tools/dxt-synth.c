/* synth.c - dxt-synth: simulate an expert-parallel job (samples/sim.h) and
 * write its trace through libdxtrec (one recorder per rank, exactly as a real
 * job would), plus DIR/truth.json: the config, the injected faults and the
 * findings dxt-analyze should report (shared/contracts/report.md terms).
 * Speed: the recorders write uncompressed files (compress_level 0) and
 * dxt-synth compresses them after they close, in one process per core
 * (libdxtrec compresses at close, one file at a time behind its HDF5 lock:
 * a 256-rank trace spent most of its time there).
 * Memory: ranks are simulated and written a block at a time (--block; every
 * rank at once with --rate, which writes in real time): the block's
 * recorders are opened, every step of the block's rows is recorded, the
 * files are closed and compressed, then the next block. Any block of rows of
 * a step is computed alone (sim_rows), so nothing N x N is held.
 * Owner: the simulator engineer (samples/sim*.c, tools/dxt-synth.c); the
 * parallel compression: the performance engineer. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dxt_format.h"
#include "dxtrec.h"
#include "sim.h"
#include "sim_truth.h"

#define EXIT_USAGE 2
#define EXIT_RUNTIME 1
#define CYCLES_PER_NS 1.98
#define RING_BUDGET_BYTES (64.0 * 1024 * 1024) /* the open recorders' rings together */
#define PROGRESS_EVERY_S 2.0
#define MAX_WORKERS 16         /* processes: --jobs, and the compression's */
#define SEGMENT_MISSES_MAX 8 /* rank-R.<k>.h5: stop looking after this many missing k */
#define BLOCK_RANKS_AUTO 32   /* ranks open at a time when not --rate */
#define DROP_BLOCK_STEPS 8    /* --drop-prob: rows are lost in blocks of steps */
#define DROP_STREAM 1         /* sim_unit stream of the dropped rows */
#define HELP_KNOBS_MAX 4096

static const char *const synth_ops[] = {"dispatch", "combine"};

static const char synth_help[] =
    "Usage: dxt-synth [OPTIONS]\n"
    "Simulate an expert-parallel (MoE dispatch/combine) job and write its trace\n"
    "through libdxtrec (one HDF5 file per rank) plus DIR/truth.json.\n"
    "\n"
    "  -o, --out DIR          trace directory (default: trace)\n"
    "  -n, --world N          ranks (default 16)\n"
    "  -r, --per-node R       ranks per node (default 8); rank i is on node-<i/R>\n"
    "  -t, --steps T          steps (default 1000); each records dispatch and combine\n"
    "  -s, --seed S           seed (default 1); same options, same trace\n"
    "      --unit U           cycles (clock_hz 1.98e9, values = ns * 1.98; default) or ns\n"
    "      --counting C       cumulative (default, as DeepEP's stats) or delta\n"
    "  -f, --fault SPEC       inject a fault (repeatable, up to 16; syntax below)\n"
    "      --rate R           write R steps per second in real time (live / crash tests)\n"
    "      --run-id ID        run id (default synth-<seed>)\n"
    "      --no-tokens        do not record the tokens dataset\n"
    "      --reset-at STEP    cumulative counters restart from zero at STEP on every rank\n"
    "      --gap-every K      do not record every K-th step (steps K-1, 2K-1, ...)\n"
    "      --drop-prob P      each rank loses its rows of a block of 8 steps with\n"
    "                         probability P (as a recorder whose ring overflowed)\n"
    "      --noise SPEC       noise model: calm, default, or knob=value,... (repeatable;\n"
    "                         knobs below)\n"
    "      --block RANKS      ranks simulated and written at a time (default 32;\n"
    "                         all with --rate); bounds the memory\n"
    "  -j, --jobs J           blocks simulated at once, one process each (default:\n"
    "                         online CPUs, at most 16; 1 with --rate); same trace\n"
    "      --ring ROWS        recorder ring capacity (default: 64 MiB for the open ranks)\n"
    "      --flush SECONDS    recorder flush interval (default 1)\n"
    "      --compress LEVEL   shuffle+deflate level of the files, 0 (none) .. 9 (default 1)\n"
    "      --tokens-per-rank K, --topk K, --experts-per-rank E, --spike-prob P\n"
    "                         routing (defaults 128, 8, 4) and spike rate (1e-3 per cell)\n"
    "  -q, --quiet            no progress on stderr\n"
    "  -h, --help             this text\n"
    "\n"
    "Fault SPEC: KIND:key=value,...\n"
    "  slow_source       rank=R      R starts late: column R's mean wait x magnitude,\n"
    "                                its own row drops\n"
    "  slow_destination  rank=R      R receives slowly: row R's waits x magnitude\n"
    "  slow_path         src=S,dst=D D's wait for S x magnitude (one cell)\n"
    "  slow_node         node=K|node-K[,as=source|destination]  every rank of node K\n"
    "                                late (off-node columns x magnitude) or receiving\n"
    "                                slowly (rows x magnitude)\n"
    "  load_imbalance    rank=R      a hot expert: R's expert popularity x magnitude;\n"
    "                                R gets more tokens in dispatch, sends more in combine\n"
    "  common keys: op=dispatch|combine|all (default all; load_imbalance: all only)\n"
    "               onset=STEP (default 0)  end=STEP (first step after; default: last)\n"
    "               magnitude=X or x=X (1..1000, default 2)\n"
    "               duty=F (0<F<=1, default 1; <1: on in 20-step bursts, F of the steps)\n"
    "Noise knobs (--noise knob=value; the model: samples/README.md), default value:\n"
    "%s"
    "Examples:\n"
    "  dxt-synth -n 16 -t 2000 --fault slow_source:rank=4,onset=500,x=1.5\n"
    "  dxt-synth --fault slow_path:src=3,dst=11,op=combine,x=2,duty=0.3\n"
    "  dxt-synth -n 32 --fault slow_node:node=node-2,as=destination,x=1.4 \\\n"
    "            --fault load_imbalance:rank=7,x=3,onset=100,end=900\n"
    "\n"
    "Exit status: 0 trace written; 1 a recorder or file error (message on stderr);\n"
    "2 bad options or fault spec.\n";

enum {
    OPT_UNIT = 256, OPT_COUNTING, OPT_RATE, OPT_RUN_ID, OPT_NO_TOKENS, OPT_RESET_AT,
    OPT_GAP_EVERY, OPT_RING, OPT_FLUSH, OPT_TOKENS_PER_RANK, OPT_TOPK, OPT_EXPERTS,
    OPT_SPIKE_PROB, OPT_COMPRESS, OPT_NOISE, OPT_DROP_PROB, OPT_BLOCK
};

static const struct option synth_long_opts[] = {
    {"out", required_argument, NULL, 'o'},
    {"world", required_argument, NULL, 'n'},
    {"per-node", required_argument, NULL, 'r'},
    {"steps", required_argument, NULL, 't'},
    {"seed", required_argument, NULL, 's'},
    {"unit", required_argument, NULL, OPT_UNIT},
    {"counting", required_argument, NULL, OPT_COUNTING},
    {"fault", required_argument, NULL, 'f'},
    {"rate", required_argument, NULL, OPT_RATE},
    {"run-id", required_argument, NULL, OPT_RUN_ID},
    {"no-tokens", no_argument, NULL, OPT_NO_TOKENS},
    {"reset-at", required_argument, NULL, OPT_RESET_AT},
    {"gap-every", required_argument, NULL, OPT_GAP_EVERY},
    {"ring", required_argument, NULL, OPT_RING},
    {"flush", required_argument, NULL, OPT_FLUSH},
    {"compress", required_argument, NULL, OPT_COMPRESS},
    {"tokens-per-rank", required_argument, NULL, OPT_TOKENS_PER_RANK},
    {"topk", required_argument, NULL, OPT_TOPK},
    {"experts-per-rank", required_argument, NULL, OPT_EXPERTS},
    {"spike-prob", required_argument, NULL, OPT_SPIKE_PROB},
    {"noise", required_argument, NULL, OPT_NOISE},
    {"drop-prob", required_argument, NULL, OPT_DROP_PROB},
    {"block", required_argument, NULL, OPT_BLOCK},
    {"jobs", required_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_i64(const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int parse_int_opt(const char *text, int min, int max, int *out)
{
    int64_t v;
    if (parse_i64(text, min, max, &v)) return -1;
    *out = (int)v;
    return 0;
}

static int parse_num(const char *text, double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= min && v <= max)) return -1;
    *out = v;
    return 0;
}

static void synth_opts_init(synth_opts *o)
{
    memset(o, 0, sizeof *o);
    sim_config_init(&o->sim);
    o->out = "trace";
    o->unit = DXTREC_UNIT_CYCLES;
    o->counting = DXTREC_CUMULATIVE;
    o->tokens = 1;
    o->reset_at = -1;
    o->flush_s = 1.0;
    o->compress_level = 1;
}

/* One option (not a fault). Returns 0, or -1 when its value is bad. */
static int apply_option(synth_opts *o, int c, const char *arg)
{
    sim_config *s = &o->sim;
    int64_t v;
    switch (c) {
    case 'o': o->out = arg; return 0;
    case 'n': return parse_int_opt(arg, 2, 4096, &s->world);
    case 'r': return parse_int_opt(arg, 1, 4096, &s->per_node);
    case 't': return parse_i64(arg, 1, INT64_MAX / 2, &s->steps);
    case 's':
        if (parse_i64(arg, 0, INT64_MAX, &v)) return -1;
        s->seed = (uint64_t)v;
        return 0;
    case OPT_UNIT:
        if (strcmp(arg, "cycles") && strcmp(arg, "ns")) return -1;
        o->unit = strcmp(arg, "ns") == 0 ? DXTREC_UNIT_NS : DXTREC_UNIT_CYCLES;
        return 0;
    case OPT_COUNTING:
        if (strcmp(arg, "cumulative") && strcmp(arg, "delta")) return -1;
        o->counting = strcmp(arg, "delta") == 0 ? DXTREC_DELTA : DXTREC_CUMULATIVE;
        return 0;
    case OPT_RATE: return parse_num(arg, 1e-3, 1e9, &o->rate);
    case OPT_RUN_ID: o->run_id = arg; return *arg ? 0 : -1;
    case OPT_NO_TOKENS: o->tokens = 0; return 0;
    case OPT_RESET_AT: return parse_i64(arg, 0, INT64_MAX / 2, &o->reset_at);
    case OPT_GAP_EVERY: return parse_i64(arg, 2, INT64_MAX / 2, &o->gap_every);
    case OPT_RING: return parse_int_opt(arg, 1, 1 << 24, &o->ring);
    case OPT_FLUSH: return parse_num(arg, 1e-3, 3600, &o->flush_s);
    case OPT_COMPRESS: return parse_int_opt(arg, 0, 9, &o->compress_level);
    case OPT_TOKENS_PER_RANK: return parse_int_opt(arg, 1, 1000000, &s->tokens_per_rank);
    case OPT_TOPK: return parse_int_opt(arg, 1, 1 << 20, &s->topk);
    case OPT_EXPERTS: return parse_int_opt(arg, 1, 1024, &s->experts_per_rank);
    case OPT_SPIKE_PROB: return parse_num(arg, 0.0, 0.5, &s->spike_prob);
    case OPT_DROP_PROB: return parse_num(arg, 0.0, 0.5, &o->drop_prob);
    case OPT_BLOCK: return parse_int_opt(arg, 1, 4096, &o->block);
    case 'j': return parse_int_opt(arg, 1, MAX_WORKERS, &o->jobs);
    case 'q': o->quiet = 1; return 0;
    default: return -1;
    }
}

static int add_fault(synth_opts *o, const char *spec)
{
    char err[256];
    if (o->sim.nfaults >= SIM_MAX_FAULTS) {
        fprintf(stderr, "dxt-synth: --fault %s: at most %d faults\n", spec, SIM_MAX_FAULTS);
        return -1;
    }
    if (sim_fault_parse(spec, synth_ops, 2, o->sim.per_node, &o->sim.faults[o->sim.nfaults],
                        err, sizeof err)) {
        fprintf(stderr, "dxt-synth: --fault %s: %s\n", spec, err);
        return -1;
    }
    o->fault_specs[o->sim.nfaults++] = spec;
    return 0;
}

static int online_cpus(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > MAX_WORKERS ? MAX_WORKERS : (int)cores;
}

/* The block size and the processes: with --rate one block of every rank; else
 * --jobs (default the online CPUs) processes, and an automatic block small
 * enough to give each of them one. */
static void choose_blocks(synth_opts *o)
{
    int n = o->sim.world;
    if (o->rate > 0) {
        o->block = n; /* real time: every rank at once */
        o->jobs = 1;
        return;
    }
    if (o->jobs == 0) o->jobs = online_cpus();
    if (o->block == 0) {
        int share = (n + o->jobs - 1) / o->jobs;
        o->block = share < BLOCK_RANKS_AUTO ? share : BLOCK_RANKS_AUTO;
    }
    if (o->block > n) o->block = n;
    int nblocks = (n + o->block - 1) / o->block;
    if (o->jobs > nblocks) o->jobs = nblocks;
}

/* Returns 0 to run, 1 after --help, -1 on a usage error (message printed). */
static int parse_args(int argc, char **argv, synth_opts *o)
{
    int c;
    synth_opts_init(o);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:n:r:t:s:f:j:qh", synth_long_opts, NULL)) != -1) {
        if (c == 'h') {
            char knobs[HELP_KNOBS_MAX];
            sim_config defaults;
            sim_config_init(&defaults);
            sim_noise_help(&defaults, knobs, sizeof knobs);
            printf(synth_help, knobs);
            return 1;
        }
        if (c == '?' || c == ':') {
            fprintf(stderr, "dxt-synth: bad or incomplete option '%s' (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if (c == 'f') {
            if (add_fault(o, optarg)) return -1;
            continue;
        }
        if (c == OPT_NOISE) {
            char err[256];
            if (sim_noise_parse(&o->sim, optarg, err, sizeof err) == 0) continue;
            fprintf(stderr, "dxt-synth: --noise %s: %s (see --help)\n", optarg, err);
            return -1;
        }
        if (apply_option(o, c, optarg)) { /* name the option, not its value ("-n 0") */
            const char *name = optind >= 2 && argv[optind - 1] == optarg ? argv[optind - 2]
                                                                          : argv[optind - 1];
            fprintf(stderr, "dxt-synth: bad value '%s' for %s (see --help)\n", optarg, name);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dxt-synth: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    char err[256];
    if (sim_config_check(&o->sim, err, sizeof err)) {
        fprintf(stderr, "dxt-synth: %s\n", err);
        return -1;
    }
    if (!o->run_id) {
        snprintf(o->run_id_buf, sizeof o->run_id_buf, "synth-%" PRIu64, o->sim.seed);
        o->run_id = o->run_id_buf;
    }
    choose_blocks(o);
    if (o->ring == 0) { /* the open rings (wait + tokens rows of N values) within the budget */
        double row_bytes = 16.0 * o->sim.world;
        double rows = RING_BUDGET_BYTES / row_bytes / o->block;
        o->ring = rows > 4096 ? 4096 : rows < 64 ? 64 : (int)rows;
    }
    return 0;
}

/* The state of the run: the model, the open block's recorders and counters. */
typedef struct synth_run {
    const synth_opts *o;
    sim *model;
    int lo, hi;           /* the block: ranks [lo, hi) */
    dxtrec_t **recs;      /* block */
    double *wait_ns;      /* block * n */
    int64_t *tokens;      /* block * n */
    int64_t *acc_wait;    /* nops * block * n: counter values since the last reset
                           * (cumulative) or since the last recorded row (delta) */
    int64_t *acc_tokens;
    int progress;         /* 1: print progress (one worker of --jobs) */
} synth_run;

static int open_recorders(synth_run *run)
{
    const synth_opts *o = run->o;
    int n = o->sim.world;
    for (int rank = run->lo; rank < run->hi; rank++) {
        char node[32];
        dxtrec_config cfg;
        dxtrec_t **rec = &run->recs[rank - run->lo];
        dxtrec_config_init(&cfg);
        snprintf(node, sizeof node, "node-%d", rank / o->sim.per_node);
        cfg.dir = o->out;
        cfg.rank = rank;
        cfg.world_size = n;
        cfg.run_id = o->run_id;
        cfg.node = node;
        cfg.local_rank = rank % o->sim.per_node;
        cfg.ops = synth_ops;
        cfg.nops = 2;
        cfg.unit = o->unit;
        cfg.clock_hz = o->unit == DXTREC_UNIT_CYCLES ? CYCLES_PER_NS * 1e9 : 0.0;
        cfg.counting = o->counting;
        cfg.record_tokens = o->tokens;
        cfg.flush_interval_s = o->flush_s;
        cfg.ring_capacity = o->ring;
        cfg.compress_level = 0; /* compressed after the block, in parallel */
        cfg.quiet = 1;
        dxtrecResult_t rc = dxtrec_open(&cfg, rec);
        if (rc != DXTREC_SUCCESS) {
            char msg[512] = "";
            if (*rec) dxtrec_last_error(*rec, msg, sizeof msg);
            fprintf(stderr, "dxt-synth: rank %d: dxtrec_open: %s%s%s\n", rank,
                    dxtrec_result_string(rc), *msg ? ": " : "", msg);
            return -1;
        }
    }
    return 0;
}

/* Wait while rank's ring is more than half full, so no row is ever dropped. */
static void backpressure(dxtrec_t *rec, int ring)
{
    struct timespec nap = {0, 200000};
    for (int tries = 0; tries < 50000; tries++) {
        dxtrec_counters c;
        dxtrec_get_counters(rec, &c);
        if (c.rows_recorded - c.rows_written - c.rows_dropped < (uint64_t)(ring + 1) / 2) return;
        nanosleep(&nap, NULL);
    }
}

/* 1 if rank's row of step is not recorded: --gap-every, or --drop-prob's blocks. */
static int row_lost(const synth_run *run, int rank, int64_t step)
{
    const synth_opts *o = run->o;
    if (o->gap_every > 0 && (step + 1) % o->gap_every == 0) return 1;
    return o->drop_prob > 0 &&
           sim_unit(run->model, DROP_STREAM, step / DROP_BLOCK_STEPS, rank, 0) < o->drop_prob;
}

/* Add one step of op to the block's counters and record its rows (unless lost). */
static int record_op(synth_run *run, int op, int64_t step)
{
    const synth_opts *o = run->o;
    int n = o->sim.world, rows = run->hi - run->lo;
    double scale = o->unit == DXTREC_UNIT_CYCLES ? CYCLES_PER_NS : 1.0;
    size_t cells = (size_t)rows * n;
    int64_t *acc_w = run->acc_wait + op * cells, *acc_t = run->acc_tokens + op * cells;
    sim_rows(run->model, op, step, run->lo, run->hi, run->wait_ns, run->tokens);
    if (step == o->reset_at && o->counting == DXTREC_CUMULATIVE) {
        memset(acc_w, 0, cells * sizeof *acc_w);
        memset(acc_t, 0, cells * sizeof *acc_t);
    }
    for (size_t c = 0; c < cells; c++) {
        acc_w[c] += llround(run->wait_ns[c] * scale);
        acc_t[c] += run->tokens[c];
    }
    for (int rank = run->lo; rank < run->hi; rank++) {
        int64_t *w = acc_w + (size_t)(rank - run->lo) * n, *t = acc_t + (size_t)(rank - run->lo) * n;
        dxtrec_t *rec = run->recs[rank - run->lo];
        if (row_lost(run, rank, step)) continue;
        backpressure(rec, o->ring);
        dxtrecResult_t rc = dxtrec_record(rec, op, step, w, o->tokens ? t : NULL);
        if (rc != DXTREC_SUCCESS) {
            fprintf(stderr, "dxt-synth: rank %d step %" PRId64 ": dxtrec_record: %s\n", rank,
                    step, dxtrec_result_string(rc));
            return -1;
        }
        if (o->counting == DXTREC_DELTA) {
            memset(w, 0, n * sizeof *w);
            memset(t, 0, n * sizeof *t);
        }
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void pace(const synth_opts *o, double start, int64_t step)
{
    if (o->rate <= 0) return;
    double wait = start + (double)(step + 1) / o->rate - now_s();
    if (wait <= 0) return;
    struct timespec ts = {(time_t)wait, (long)((wait - floor(wait)) * 1e9)};
    nanosleep(&ts, NULL);
}

static int run_steps(synth_run *run)
{
    const synth_opts *o = run->o;
    double start = now_s(), last_progress = start;
    for (int64_t step = 0; step < o->sim.steps; step++) {
        for (int op = 0; op < 2; op++)
            if (record_op(run, op, step)) return -1;
        pace(o, start, step);
        double now = now_s();
        if (run->progress && now - last_progress >= PROGRESS_EVERY_S) {
            fprintf(stderr, "dxt-synth: ranks %d-%d of %d: step %" PRId64 "/%" PRId64
                    " (%.0f steps/s)\n", run->lo, run->hi - 1, o->sim.world, step + 1,
                    o->sim.steps, (step + 1) / (now - start));
            last_progress = now;
        }
    }
    return 0;
}

/* Close the block's recorders; with report, print dropped rows and errors. */
static int close_recorders(synth_run *run, int report)
{
    int bad = 0;
    for (int rank = run->lo; rank < run->hi; rank++) {
        dxtrec_t *rec = run->recs[rank - run->lo];
        if (!rec) continue;
        dxtrec_counters c;
        char msg[512] = "";
        dxtrec_get_counters(rec, &c);
        if (c.last_error != DXTREC_SUCCESS) dxtrec_last_error(rec, msg, sizeof msg);
        dxtrecResult_t rc = dxtrec_close(rec);
        run->recs[rank - run->lo] = NULL;
        if ((rc != DXTREC_SUCCESS || c.rows_dropped) && report) {
            fprintf(stderr, "dxt-synth: rank %d: %s, %" PRIu64 " rows dropped%s%s\n", rank,
                    dxtrec_result_string(rc), c.rows_dropped, *msg ? ": " : "", msg);
        }
        bad |= rc != DXTREC_SUCCESS || c.rows_dropped;
    }
    return bad ? -1 : 0;
}

/* Compress one file in place; 0, or -1 with a message on stderr. */
static int compress_one(const char *path, int level)
{
    dxt_error err = {{0}};
    if (dxt_file_compress(path, level, &err) == 0) return 0;
    fprintf(stderr, "dxt-synth: %s\n", err.msg);
    return -1;
}

/* Run fn(ctx, w, nworkers) for w = 0 .. nworkers - 1: worker 0 in this process,
 * the others in forked children (serial HDF5 runs one call at a time per
 * process). Call it with no thread running (no recorder open). Returns 0 when
 * every worker returned 0, else -1. */
typedef int (*worker_fn)(void *ctx, int w, int nworkers);

static int run_workers(int nworkers, worker_fn fn, void *ctx)
{
    pid_t pids[MAX_WORKERS];
    int started = 0, bad = 0;
    if (nworkers > MAX_WORKERS) nworkers = MAX_WORKERS;
    fflush(NULL);
    for (int w = 1; w < nworkers; w++) {
        pid_t pid = fork();
        if (pid == 0) {
            int rc = fn(ctx, w, nworkers);
            fflush(NULL);
            _exit(rc ? 1 : 0);
        }
        if (pid < 0) break; /* the workers started share the rest below */
        pids[started++] = pid;
    }
    for (int w = started + 1; w < nworkers; w++) bad |= fn(ctx, w, nworkers) != 0;
    bad |= fn(ctx, 0, nworkers) != 0;
    for (int k = 0; k < started; k++) {
        int status = 0;
        if (waitpid(pids[k], &status, 0) != pids[k] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            bad = 1;
    }
    return bad ? -1 : 0;
}

/* Worker w of nworkers: compress every segment of ranks lo + w, lo + w +
 * nworkers, ... below hi (rank-R.h5, then rank-R.<k>.h5 as the recorder
 * names them). */
typedef struct compress_job {
    const synth_opts *o;
    int lo, hi;
} compress_job;

static int compress_share(void *ctx, int w, int nworkers)
{
    const compress_job *job = ctx;
    int bad = 0;
    for (int rank = job->lo + w; rank < job->hi; rank += nworkers) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/rank-%05d.h5", job->o->out, rank);
        if (stat(path, &st) == 0) bad |= compress_one(path, job->o->compress_level);
        for (int k = 1, misses = 0; misses < SEGMENT_MISSES_MAX; k++) {
            snprintf(path, sizeof path, "%s/rank-%05d.%d.h5", job->o->out, rank, k);
            if (stat(path, &st) != 0) {
                misses++;
                continue;
            }
            misses = 0;
            bad |= compress_one(path, job->o->compress_level);
        }
    }
    return bad ? -1 : 0;
}

/* After the block's recorders closed (no thread left): compress the files of
 * ranks [lo, hi) in this process's share of the cores. */
static int compress_files(const synth_opts *o, int lo, int hi)
{
    if (o->compress_level == 0) return 0;
    int nworkers = online_cpus() / o->jobs;
    if (nworkers < 1) nworkers = 1;
    if (nworkers > hi - lo) nworkers = hi - lo;
    compress_job job = {o, lo, hi};
    return run_workers(nworkers, compress_share, &job);
}

static int alloc_run(synth_run *run, const synth_opts *o)
{
    size_t n = (size_t)o->sim.world, cells = (size_t)o->block * n;
    memset(run, 0, sizeof *run);
    run->o = o;
    run->recs = calloc((size_t)o->block, sizeof *run->recs);
    run->wait_ns = malloc(cells * sizeof *run->wait_ns);
    run->tokens = malloc(cells * sizeof *run->tokens);
    run->acc_wait = malloc(2 * cells * sizeof *run->acc_wait);
    run->acc_tokens = malloc(2 * cells * sizeof *run->acc_tokens);
    if (!run->recs || !run->wait_ns || !run->tokens || !run->acc_wait || !run->acc_tokens) {
        fprintf(stderr, "dxt-synth: out of memory for %zu ranks (try a smaller --block)\n", n);
        return -1;
    }
    run->model = sim_new(&o->sim);
    if (!run->model) {
        fprintf(stderr, "dxt-synth: could not build the model (out of memory?)\n");
        return -1;
    }
    return 0;
}

static void free_run(synth_run *run)
{
    sim_free(run->model);
    free(run->recs);
    free(run->wait_ns);
    free(run->tokens);
    free(run->acc_wait);
    free(run->acc_tokens);
}

/* Worker w of nworkers: blocks w, w + nworkers, ... in turn: open, record
 * every step, close, compress. Worker 0 alone prints progress. */
static int run_block_share(void *ctx, int w, int nworkers)
{
    synth_run *run = ctx;
    const synth_opts *o = run->o;
    size_t cells = (size_t)o->block * o->sim.world;
    run->progress = w == 0 && !o->quiet;
    for (int lo = w * o->block; lo < o->sim.world; lo += nworkers * o->block) {
        run->lo = lo;
        run->hi = lo + o->block < o->sim.world ? lo + o->block : o->sim.world;
        memset(run->acc_wait, 0, 2 * cells * sizeof *run->acc_wait);
        memset(run->acc_tokens, 0, 2 * cells * sizeof *run->acc_tokens);
        if (open_recorders(run) || run_steps(run) || close_recorders(run, 1)) return -1;
        if (compress_files(o, run->lo, run->hi)) return -1;
    }
    return 0;
}

/* Every block of ranks, in --jobs processes. */
static int run_blocks(synth_run *run)
{
    return run_workers(run->o->jobs, run_block_share, run);
}

int main(int argc, char **argv)
{
    synth_opts opts;
    synth_run run;
    int status = EXIT_RUNTIME;
    int parsed = parse_args(argc, argv, &opts);
    if (parsed) return parsed > 0 ? 0 : EXIT_USAGE;
    if (alloc_run(&run, &opts)) goto done;
    if (run_blocks(&run)) goto done;
    char err[512];
    if (synth_write_truth(&opts, run.model, synth_ops, 2, err, sizeof err)) {
        fprintf(stderr, "dxt-synth: %s\n", err);
        goto done;
    }
    if (!opts.quiet)
        fprintf(stderr, "dxt-synth: wrote %d ranks x %" PRId64 " steps to %s/\n", opts.sim.world,
                opts.sim.steps, opts.out);
    status = 0;
done:
    if (run.recs) close_recorders(&run, 0);
    free_run(&run);
    return status;
}
