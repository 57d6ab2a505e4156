/* sim.h - the cluster model behind dxt-synth: an expert-parallel job of N
 * ranks, R per node, producing each step's N x N wait matrix and token counts,
 * with injected faults. Pure computation (no files): dxt-synth records its
 * output through libdxtrec, tests may call it directly.
 *
 * Model, per step and op: rank j is ready after its compute time (with
 * jitter); its data reaches rank i after a transfer time that depends on the
 * path (NVLink inside a node, RDMA across nodes) and on the tokens routed (top-k
 * routing with uneven expert popularity); rank i waits from its own ready time
 * until the data arrives. Rare heavy-tailed spikes hit single cells. */
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

typedef struct sim_config {
    int world;          /* N */
    int per_node;       /* R, default 8 */
    int64_t steps;
    uint64_t seed;
    int nops;           /* ops 0..nops-1, named by the caller (dispatch, combine) */
    int topk;           /* experts per token, default 8 */
    int tokens_per_rank;/* default 128 */
    double spike_prob;  /* per cell and step, default 1e-4 */
    int experts_per_rank; /* default 4 (added) */
    int nfaults;
    sim_fault faults[SIM_MAX_FAULTS];
} sim_config;

void sim_config_init(sim_config *cfg); /* defaults; world 16, steps 1000, no faults */

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

/* One step of one op: wait_ns[i*N+j] (wait of i for j, ns; diagonal small) and
 * tokens[i*N+j] (tokens i received from j; may be NULL). Steps in order (any
 * order works: a step's output depends only on the config, op and step). */
void sim_step(sim *s, int op, int64_t step, double *wait_ns, int64_t *tokens);

void sim_free(sim *s);

/* 1 if fault number f of the config is on at this step for op (onset, end,
 * op and the duty cycle's bursts), else 0. (added) */
int sim_fault_active(const sim *s, int f, int op, int64_t step);

/* The healthy model's mean wait matrix for op (n x n, ns), measured by sim_new
 * on calibration steps without faults or spikes; the magnitudes are defined
 * against it. NULL for a bad op. (added) */
const double *sim_baseline(const sim *s, int op);

#endif
