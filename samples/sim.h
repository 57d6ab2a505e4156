/* sim.h - the cluster model behind dxt-synth: an expert-parallel job of N
 * ranks, R per node, producing each step's N x N wait matrix and token counts,
 * with injected faults. Pure computation (no files): dxt-synth records its
 * output through libdxtrec, tests may call it directly.
 *
 * Model, per step and op: rank j is ready after its compute time (jitter,
 * load-proportional expert compute, launch skew); its data reaches rank i
 * after a transfer time that depends on the path (NVLink inside a node, RDMA
 * across nodes; static level and noise spread per pair and node pair) and on
 * the tokens routed (top-k routing with uneven expert popularity); rank i
 * waits from its own ready time until the data arrives, clipped at zero.
 * Spikes (additive and multiplicative) hit single cells; the first steps are
 * warm-up. The noise model's knobs are sim_noise (SIM_NOISE_KNOBS); the whole
 * model is written out in sim.c's header comment and samples/README.md.
 * Memory is O(N) plus a cache of the rows asked for: any block of rows of a
 * step is computed on its own (sim_rows), so EP4096 needs no N x N state. */
#ifndef DXT_SIM_H
#define DXT_SIM_H

#include <stddef.h>
#include <stdint.h>

#define SIM_FAULT_KINDS(X)                                        \
    X(SIM_SLOW_SOURCE, "slow_source")                             \
    X(SIM_SLOW_DESTINATION, "slow_destination")                   \
    X(SIM_SLOW_PATH, "slow_path")                                 \
    X(SIM_SLOW_NODE, "slow_node")                                 \
    X(SIM_LOAD_IMBALANCE, "load_imbalance")

typedef enum {
#define SIM_KIND_ENUM(id, str) id,
    SIM_FAULT_KINDS(SIM_KIND_ENUM)
#undef SIM_KIND_ENUM
    SIM_KIND_COUNT
} sim_kind;

#define SIM_MAX_FAULTS 16
#define SIM_MAX_OPS 4

typedef struct sim_fault {
    sim_kind kind;
    int op;             /* op index, -1: every op */
    int rank;           /* slow_source, slow_destination, load_imbalance (hot expert's rank) */
    int src, dst;       /* slow_path */
    int node;           /* slow_node (node index); as_source 1: sends late, 0: receives late */
    int as_source;
    int64_t onset, end; /* steps [onset, end); end -1: to the last step */
    double magnitude;   /* multiplies the affected wait (slow_*) or the hot expert's popularity;
                         * exactly what is multiplied: the header comment of sim.c */
    double duty;        /* fraction of steps on, 1: persistent; intermittent: on in bursts */
} sim_fault;

/* The noise model (every knob a double; name, default, min, max, meaning).
 * Defaults are deliberately not easy; the "calm" preset (sim_noise_calm) is
 * close to the first model: little jitter, a 2 us floor, rare spikes. */
#define SIM_NOISE_KNOBS(X)                                                                    \
    X(jitter, 1.0, 0.0, 10.0, "readiness jitter sd, x the intra-node transfer time")       \
    X(floor_ns, 0.0, 0.0, 1e6, "polling floor added to every wait (0: clipped waits are 0)") \
    X(spike_min, 2.0, 1.0, 1000.0, "spike size law: Pareto minimum (x the cell's scale)")  \
    X(spike_alpha, 1.5, 0.3, 10.0, "spike size law: Pareto tail index")                    \
    X(spike_max, 20.0, 1.0, 1000.0, "spike size cap")                                      \
    X(spike_mult, 0.5, 0.0, 1.0, "share of spikes that multiply the wait (others add)")    \
    X(pair_sigma, 0.3, 0.0, 2.0, "static level spread per pair (lognormal sigma)")         \
    X(nodepair_sigma, 0.35, 0.0, 2.0, "static level spread per ordered node pair")         \
    X(noise, 0.1, 0.0, 2.0, "per-step transfer noise (lognormal sigma), median pair")      \
    X(noise_spread, 0.4, 0.0, 2.0, "spread of the noise per pair and node pair (lognormal)") \
    X(speed_sigma, 0.01, 0.0, 0.5, "static compute speed spread per rank")                 \
    X(compute_load, 0.5, 0.0, 1.0, "share of combine compute proportional to tokens")      \
    X(load_sigma, 0.1, 0.0, 1.0, "per-step routing fluctuation per rank (lognormal)")      \
    X(skew_ranks, 0.1, 0.0, 1.0, "share of ranks with a stable dispatch launch skew")      \
    X(skew_min_ns, 2000.0, 0.0, 1e7, "launch skew, smallest")                              \
    X(skew_max_ns, 10000.0, 0.0, 1e7, "launch skew, largest")                              \
    X(diag, 1.0, 0.0, 100.0, "diagonal self-wait, x the intra-node transfer time")         \
    X(warmup_steps, 2.0, 0.0, 1000.0, "warm-up steps at the start")                        \
    X(warmup_min, 100.0, 1.0, 1e5, "warm-up wait, smallest factor")                        \
    X(warmup_max, 1000.0, 1.0, 1e5, "warm-up wait, largest factor")                        \
    X(stall_prob, 0.0, 0.0, 0.1, "per rank and step: a stall of its host starts")          \
    X(stall_steps, 5.0, 1.0, 1000.0, "a stall's longest duration, steps (uniform 1..this)") \
    X(stall_min, 5.0, 1.0, 1e4, "stall size law: Pareto minimum (x the compute time)")     \
    X(stall_alpha, 1.0, 0.3, 10.0, "stall size law: Pareto tail index")

typedef struct sim_noise {
#define SIM_NOISE_FIELD(name, def, lo, hi, help) double name;
    SIM_NOISE_KNOBS(SIM_NOISE_FIELD)
#undef SIM_NOISE_FIELD
} sim_noise;

typedef struct sim_config {
    int world;          /* N */
    int per_node;       /* R, default 8 */
    int64_t steps;
    uint64_t seed;
    int nops;           /* ops 0..nops-1, named by the caller (dispatch, combine) */
    int topk;           /* experts per token, default 8 */
    int tokens_per_rank;/* default 128 */
    double spike_prob;  /* per cell and step, default 1e-3 (calm: 1e-4) */
    int experts_per_rank; /* default 4 (added) */
    sim_noise noise;
    int nfaults;
    sim_fault faults[SIM_MAX_FAULTS];
} sim_config;

void sim_config_init(sim_config *cfg); /* defaults; world 16, steps 1000, no faults */

/* The calm preset: the first model's noise (jitter 0.15x, 2 us floor, spikes
 * 1e-4 additive, no skew, no warm-up, diagonal = floor). */
void sim_noise_calm(sim_config *cfg);

/* Apply "calm", "default" or "knob=value,knob=value,..." (spike_prob is also
 * a knob here). Returns 0, or -1 with the bad part in err. */
int sim_noise_parse(sim_config *cfg, const char *spec, char *err, size_t errlen);

/* The knobs as lines "  name  (default D, now V) help" for --help. */
void sim_noise_help(const sim_config *cfg, char *buf, size_t len);

/* Knob k (0, 1, ...): its name and value; NULL past the last knob. */
const char *sim_noise_knob(const sim_config *cfg, int k, double *value);

/* Check a whole config (world, per_node, ops, every fault's ranges). Returns 0,
 * or -1 with a message naming the bad field (and fault) in err. (added) */
int sim_config_check(const sim_config *cfg, char *err, size_t errlen);

const char *sim_kind_str(sim_kind kind); /* "slow_source", ...; "?" if out of range (added) */

/* A fault of kind with the parser's defaults: every op, onset 0, no end,
 * magnitude 2, duty 1, as_source 1, ranks / node -1 (set them). (added) */
void sim_fault_init(sim_fault *f, sim_kind kind);

/* Parse "KIND:key=value,..." (see dxt-synth --help) into *out.
 * Returns 0, or -1 with a message naming the bad part in err. */
int sim_fault_parse(const char *spec, const char *const *op_names, int nops, int per_node,
                    sim_fault *out, char *err, size_t errlen);

typedef struct sim sim;

sim *sim_new(const sim_config *cfg); /* NULL on bad config or out of memory */

/* One step of one op: wait_ns[i*N+j] (wait of i for j, ns; diagonal: the
 * self-wait) and tokens[i*N+j] (tokens i received from j; may be NULL). Any
 * order works: a step's output depends only on the config, op and step. */
void sim_step(sim *s, int op, int64_t step, double *wait_ns, int64_t *tokens);

/* Rows [row_lo, row_hi) of one step of op, the same values as sim_step's:
 * wait_ns[(i - row_lo)*N + j], tokens likewise (may be NULL). */
void sim_rows(sim *s, int op, int64_t step, int row_lo, int row_hi, double *wait_ns,
              int64_t *tokens);

/* Rank r's stable launch skew in op (ns; 0 for most ranks): a static feature
 * of the healthy model, not a fault (truth.json lists it). */
double sim_launch_skew(const sim *s, int op, int r);

void sim_free(sim *s);

/* A uniform number in (0, 1) from the model's hash of (seed, stream, step, i, j):
 * for the callers' own deterministic draws (dxt-synth's dropped rows). */
double sim_unit(const sim *s, uint64_t stream, int64_t step, int i, int j);

/* 1 if fault number f of the config is on at this step for op (onset, end,
 * op and the duty cycle's bursts), else 0. (added) */
int sim_fault_active(const sim *s, int f, int op, int64_t step);

/* The healthy model's mean wait matrix for op (n x n, ns) over calibration
 * steps without faults, spikes or warm-up (computed on the first call: n*n
 * memory). The magnitudes of slow sources are defined against the columns'
 * means. NULL for a bad op or out of memory. */
const double *sim_baseline(sim *s, int op);

#endif
