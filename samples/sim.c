/* sim.c - the cluster model behind dxt-synth (API: sim.h): one step of one op
 * -> the N x N wait matrix (ns) and the token matrix, with injected faults.
 * Owner: the simulator engineer (samples/sim*.c, samples/synth.c); the parser
 * and the config check live in sim_fault.c.
 *
 * Healthy model, per step and op (all times ns, from a common start):
 *   routing   expert e's popularity p_e = zipf_e * exp(0.1 sin(2 pi t/P_e + phi_e))
 *             (mild Zipf, slow drift, P_e 2k..20k steps); rank i's share s_i is the
 *             sum over its experts. Dispatch tokens i gets from j ~ Normal(mu_i, mu_i),
 *             mu_i = tokens_per_rank * topk * s_i (token-expert pairs, as DeepEP LL).
 *             Combine sends the results back: tokens_combine[i][j] = tokens[j][i].
 *   ready_j   100 us * speed_j (static, sigma 1%) * (1 + 0.5% jitter); in combine
 *             also * (0.95 + 0.05 * tokens j got in dispatch / the even share).
 *   transfer  j->i: (lat + tokens * per_token) * pair_ij * (1 + 5% jitter); NVLink inside
 *             a node 1.5 us + 30 ns/token, RDMA across 32 us + 300 ns/token; pair_ij
 *             static lognormal (sigma .15, clipped .6..1.6), and across nodes also a
 *             static factor per ordered node pair (sigma .35): directions differ ~2x.
 *   wait[i][j] = max(0, ready_j + transfer_ij - ready_i) + 2 us polling floor (+-10%);
 *             wait[i][i] = the floor. Spikes: with spike_prob per cell, one cell of one
 *             step gets + baseline * Pareto(xm 2, alpha 1.5) (capped at 200x).
 * Faults (magnitude m; "baseline" = sim_baseline(), the healthy mean measured by
 * sim_new over 32 calibration steps):
 *   slow_source r      r is ready later by d = (m-1) * mean_i baseline[i][r]: column r's
 *                      mean (and sum) wait is ~m x; the short intra-node cells grow more
 *                      than m x, the long inter-node ones less; row r drops to the floor.
 *   slow_destination r wait[r][j] * m for every j != r (row r exactly m x).
 *   slow_path s->d     wait[d][s] * m (the cell exactly m x).
 *   slow_node K        as source: every rank of K is late by the same (m-1) * mean of
 *                      baseline[i][r] over r in K and i on other nodes (the off-node
 *                      columns m x on average; waits inside K unchanged); as
 *                      destination: rows of K * m.
 *   load_imbalance r   rank r's expert popularity * m (a hot expert): its dispatch tokens
 *                      ~ m x the others' (less the renormalisation), so its dispatch row and
 *                      its combine column (more data back, later expert compute) rise with
 *                      the tokens. Not an exact m x of any wait.
 * Several faults multiply/add. Duty < 1: on in 20-step blocks, each on with
 * probability duty (a hash of seed, fault and block).
 *
 * Determinism: every random number comes from xoshiro256** streams seeded by
 * splitmix64 from (seed, stream, step), so a step's output depends only on the
 * config and the step, not on the calls before it. No allocation per step. */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Healthy timing, ns; see the header comment. */
#define SIM_COMPUTE_NS 100000.0
#define SIM_SPEED_SIGMA 0.01
#define SIM_JITTER_SIGMA 0.005
#define SIM_EXPERT_SHARE 0.05
#define SIM_FLOOR_NS 2000.0
#define SIM_FLOOR_SIGMA 0.1
#define SIM_NVL_LAT_NS 1500.0
#define SIM_NVL_TOKEN_NS 30.0
#define SIM_RDMA_LAT_NS 32000.0
#define SIM_RDMA_TOKEN_NS 300.0
#define SIM_PAIR_SIGMA 0.15
#define SIM_PAIR_MIN 0.6
#define SIM_PAIR_MAX 1.6
#define SIM_NODEPAIR_SIGMA 0.35
#define SIM_XFER_SIGMA 0.05
#define SIM_ZIPF_S 0.3
#define SIM_DRIFT_AMP 0.1
#define SIM_DRIFT_MIN_STEPS 2000.0
#define SIM_DRIFT_MAX_STEPS 20000.0
#define SIM_SPIKE_XM 2.0
#define SIM_SPIKE_ALPHA 1.5
#define SIM_SPIKE_MAX 200.0
#define SIM_BURST_STEPS 20
#define SIM_CALIB_STEPS 32
#define SIM_TWO_PI 6.283185307179586

/* Random streams: each (stream, step) pair has its own generator. */
enum { STREAM_STATIC = 1, STREAM_TOKENS, STREAM_BURST, STREAM_SPIKES, STREAM_OPS };

typedef struct rng {
    uint64_t s[4];
} rng;

struct sim {
    sim_config cfg;
    int n, nnodes, nexperts;
    double *lat, *per_token; /* n*n: path j -> i at [i*n + j] */
    double *speed;           /* n */
    double *zipf, *period, *phase; /* nexperts */
    double *rank_pop;        /* n, scratch */
    int64_t *tok;            /* n*n dispatch tokens of tok_step */
    double *recv_ratio;      /* n: dispatch tokens received / the even share */
    int64_t tok_step;
    int tok_healthy;
    double *ready, *row_mult; /* n, scratch */
    double *base;            /* nops*n*n healthy mean wait */
    double *fault_delay;     /* nfaults*nops*n late start of sources */
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed, uint64_t stream, uint64_t step)
{
    uint64_t x = seed;
    x = splitmix64(&x) ^ (stream * 0xD1B54A32D192ED03ull);
    x = splitmix64(&x) ^ step;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in (0, 1). */
static inline double rng_uniform(rng *r) { return ((rng_next(r) >> 11) + 0.5) * 0x1.0p-53; }

/* Approximately standard normal (Irwin-Hall of four 16-bit uniforms, |z| < 3.5). */
static inline double rng_normal(rng *r)
{
    uint64_t x = rng_next(r);
    double sum = (double)(x & 0xffff) + (double)((x >> 16) & 0xffff) +
                 (double)((x >> 32) & 0xffff) + (double)(x >> 48);
    return ((sum + 2.0) / 65536.0 - 2.0) * 1.7320508075688772;
}

/* Two approximately standard normals from one draw (Irwin-Hall of four bytes each). */
static inline void rng_normal2(rng *r, double *a, double *b)
{
    uint64_t x = rng_next(r);
    uint64_t lo = (x & 0x00ff00ff00ff00ffull) + ((x >> 8) & 0x00ff00ff00ff00ffull);
    uint64_t pa = (lo & 0xffff) + ((lo >> 16) & 0xffff); /* bytes 0, 1, 2, 3 */
    uint64_t pb = ((lo >> 32) & 0xffff) + (lo >> 48);    /* bytes 4, 5, 6, 7 */
    *a = (((double)pa + 2.0) / 256.0 - 2.0) * 1.7320508075688772;
    *b = (((double)pb + 2.0) / 256.0 - 2.0) * 1.7320508075688772;
}

static double clip(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

static int node_of(const sim *s, int rank) { return rank / s->cfg.per_node; }

int sim_fault_active(const sim *s, int f, int op, int64_t step)
{
    if (!s || f < 0 || f >= s->cfg.nfaults) return 0;
    const sim_fault *fault = &s->cfg.faults[f];
    if (fault->op >= 0 && op >= 0 && fault->op != op) return 0;
    if (step < fault->onset || (fault->end >= 0 && step >= fault->end)) return 0;
    if (fault->duty >= 1.0) return 1;
    rng r;
    rng_seed(&r, s->cfg.seed, STREAM_BURST + 64 * (uint64_t)f,
             (uint64_t)((step - fault->onset) / SIM_BURST_STEPS));
    return rng_uniform(&r) < fault->duty;
}

const double *sim_baseline(const sim *s, int op)
{
    if (!s || op < 0 || op >= s->cfg.nops) return NULL;
    return s->base + (size_t)op * s->n * s->n;
}

/* Static per-pair paths, speeds and expert popularity. nodepair: nnodes^2 scratch. */
static void init_static(sim *s, double *nodepair)
{
    int n = s->n;
    rng r;
    rng_seed(&r, s->cfg.seed, STREAM_STATIC, 0);
    for (int j = 0; j < n; j++) s->speed[j] = exp(SIM_SPEED_SIGMA * rng_normal(&r));
    for (int k = 0; k < s->nnodes * s->nnodes; k++)
        nodepair[k] = clip(exp(SIM_NODEPAIR_SIGMA * rng_normal(&r)), 0.5, 2.0);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double pair = clip(exp(SIM_PAIR_SIGMA * rng_normal(&r)), SIM_PAIR_MIN, SIM_PAIR_MAX);
            size_t c = (size_t)i * n + j;
            if (i == j) {
                s->lat[c] = s->per_token[c] = 0.0;
            } else if (node_of(s, i) == node_of(s, j)) {
                s->lat[c] = SIM_NVL_LAT_NS * pair;
                s->per_token[c] = SIM_NVL_TOKEN_NS * pair;
            } else {
                pair *= nodepair[node_of(s, j) * s->nnodes + node_of(s, i)];
                s->lat[c] = SIM_RDMA_LAT_NS * pair;
                s->per_token[c] = SIM_RDMA_TOKEN_NS * pair;
            }
        }
    }
    for (int e = 0; e < s->nexperts; e++) {
        double zipf_rank = floor(rng_uniform(&r) * s->nexperts) + 1.0;
        s->zipf[e] = pow(zipf_rank, -SIM_ZIPF_S);
        s->period[e] = SIM_DRIFT_MIN_STEPS +
                       rng_uniform(&r) * (SIM_DRIFT_MAX_STEPS - SIM_DRIFT_MIN_STEPS);
        s->phase[e] = SIM_TWO_PI * rng_uniform(&r);
    }
}

/* The dispatch token matrix of a step (cached: both ops of a step share it). */
static void route_step(sim *s, int64_t step, int healthy)
{
    if (s->tok_step == step && s->tok_healthy == healthy) return;
    int n = s->n, epr = s->cfg.experts_per_rank;
    double total = 0.0, pairs = (double)s->cfg.tokens_per_rank * s->cfg.topk;
    for (int i = 0; i < n; i++) {
        double pop = 0.0;
        for (int e = i * epr; e < (i + 1) * epr; e++)
            pop += s->zipf[e] *
                   exp(SIM_DRIFT_AMP * sin(SIM_TWO_PI * (double)step / s->period[e] + s->phase[e]));
        s->rank_pop[i] = pop;
    }
    for (int f = 0; !healthy && f < s->cfg.nfaults; f++)
        if (s->cfg.faults[f].kind == SIM_LOAD_IMBALANCE && sim_fault_active(s, f, -1, step))
            s->rank_pop[s->cfg.faults[f].rank] *= s->cfg.faults[f].magnitude;
    for (int i = 0; i < n; i++) total += s->rank_pop[i];
    rng r;
    rng_seed(&r, s->cfg.seed, STREAM_TOKENS, (uint64_t)step);
    for (int i = 0; i < n; i++) {
        double mu = pairs * s->rank_pop[i] / total, sd = sqrt(mu);
        int64_t sum = 0, *row = s->tok + (size_t)i * n;
        for (int j = 0; j < n; j++) {
            double x = mu + sd * rng_normal(&r);
            row[j] = x > 0.0 ? (int64_t)(x + 0.5) : 0;
            sum += row[j];
        }
        s->recv_ratio[i] = (double)sum / pairs;
    }
    s->tok_step = step;
    s->tok_healthy = healthy;
}

/* Ready times of every rank, and the row multipliers of slow receivers. */
static void rank_times(sim *s, int op, int64_t step, int healthy, rng *r)
{
    int n = s->n, combine = op % 2 == 1;
    for (int j = 0; j < n; j++) {
        double c = SIM_COMPUTE_NS * s->speed[j] * (1.0 + SIM_JITTER_SIGMA * rng_normal(r));
        if (combine) c *= (1.0 - SIM_EXPERT_SHARE) + SIM_EXPERT_SHARE * s->recv_ratio[j];
        s->ready[j] = c;
        s->row_mult[j] = 1.0;
    }
    for (int f = 0; !healthy && f < s->cfg.nfaults; f++) {
        const sim_fault *fault = &s->cfg.faults[f];
        if (!sim_fault_active(s, f, op, step)) continue;
        const double *delay = s->fault_delay + ((size_t)f * s->cfg.nops + op) * n;
        for (int j = 0; j < n; j++) s->ready[j] += delay[j];
        if (fault->kind == SIM_SLOW_DESTINATION) s->row_mult[fault->rank] *= fault->magnitude;
        if (fault->kind == SIM_SLOW_NODE && !fault->as_source)
            for (int j = 0; j < n; j++)
                if (node_of(s, j) == fault->node) s->row_mult[j] *= fault->magnitude;
    }
}

/* Rare heavy-tailed spikes on single cells (geometric gaps between them). */
static void add_spikes(sim *s, int op, int64_t step, double *wait)
{
    double p = s->cfg.spike_prob;
    size_t cells = (size_t)s->n * s->n;
    const double *base = sim_baseline(s, op);
    if (p <= 0.0) return;
    rng r;
    rng_seed(&r, s->cfg.seed, STREAM_SPIKES + 64 * (uint64_t)op, (uint64_t)step);
    double log_miss = log1p(-p);
    for (size_t c = 0;;) {
        double gap = floor(log(rng_uniform(&r)) / log_miss);
        if (gap >= (double)(cells - c)) break;
        c += (size_t)gap;
        double factor = SIM_SPIKE_XM * pow(rng_uniform(&r), -1.0 / SIM_SPIKE_ALPHA);
        if (factor > SIM_SPIKE_MAX) factor = SIM_SPIKE_MAX;
        if (c / s->n != c % s->n) wait[c] += base[c] * factor;
        c++;
    }
}

static void step_op(sim *s, int op, int64_t step, int healthy, double *wait, int64_t *tokens)
{
    int n = s->n, combine = op % 2 == 1;
    rng r;
    route_step(s, step, healthy);
    rng_seed(&r, s->cfg.seed, STREAM_OPS + (uint64_t)op, (uint64_t)step);
    rank_times(s, op, step, healthy, &r);
    for (int i = 0; i < n; i++) {
        double ready_i = s->ready[i], mult = s->row_mult[i];
        const double *lat = s->lat + (size_t)i * n, *per_token = s->per_token + (size_t)i * n;
        double *row = wait + (size_t)i * n;
        for (int j = 0; j < n; j++) {
            double z_floor, z_xfer;
            rng_normal2(&r, &z_floor, &z_xfer);
            double floor_ns = SIM_FLOOR_NS * (1.0 + SIM_FLOOR_SIGMA * z_floor);
            if (j == i) {
                row[j] = floor_ns;
                continue;
            }
            int64_t tok = combine ? s->tok[(size_t)j * n + i] : s->tok[(size_t)i * n + j];
            double xfer = (lat[j] + (double)tok * per_token[j]) *
                          (1.0 + SIM_XFER_SIGMA * z_xfer);
            double late = s->ready[j] + xfer - ready_i;
            row[j] = ((late > 0.0 ? late : 0.0) + floor_ns) * mult;
        }
    }
    for (int f = 0; !healthy && f < s->cfg.nfaults; f++) {
        const sim_fault *fault = &s->cfg.faults[f];
        if (fault->kind == SIM_SLOW_PATH && sim_fault_active(s, f, op, step))
            wait[(size_t)fault->dst * n + fault->src] *= fault->magnitude;
    }
    if (!healthy) add_spikes(s, op, step, wait);
    for (int i = 0; tokens && i < n; i++)
        for (int j = 0; j < n; j++)
            tokens[(size_t)i * n + j] = s->tok[combine ? (size_t)j * n + i : (size_t)i * n + j];
}

static int is_late_rank(const sim *s, const sim_fault *fault, int r)
{
    if (fault->kind == SIM_SLOW_SOURCE) return r == fault->rank;
    return fault->kind == SIM_SLOW_NODE && fault->as_source && node_of(s, r) == fault->node;
}

/* The late start (ns) of fault f's source ranks in op, against the baseline:
 * one delay for all of them (a slow node's ranks stay in step with each other,
 * so the waits inside the node do not change). */
static void init_fault_delay(sim *s, int f, int op)
{
    const sim_fault *fault = &s->cfg.faults[f];
    int n = s->n, node = fault->kind == SIM_SLOW_NODE;
    double *delay = s->fault_delay + ((size_t)f * s->cfg.nops + op) * n;
    const double *base = sim_baseline(s, op);
    double sum = 0.0, all_sum = 0.0;
    long count = 0, all_count = 0;
    if (fault->op >= 0 && fault->op != op) return;
    for (int r = 0; r < n; r++) {
        if (!is_late_rank(s, fault, r)) continue;
        for (int i = 0; i < n; i++) {
            if (i == r) continue;
            all_sum += base[(size_t)i * n + r];
            all_count++;
            if (node && node_of(s, i) == fault->node) continue;
            sum += base[(size_t)i * n + r];
            count++;
        }
    }
    if (count == 0) /* one node only: judge against the whole columns */
        sum = all_sum, count = all_count;
    double late = (fault->magnitude - 1.0) * sum / (count ? count : 1);
    for (int r = 0; r < n; r++)
        if (is_late_rank(s, fault, r)) delay[r] = late;
}

/* Measure the healthy mean wait of every op, then size the faults against it. */
static int calibrate(sim *s)
{
    size_t cells = (size_t)s->n * s->n;
    double *scratch = malloc(cells * sizeof *scratch);
    if (!scratch) return -1;
    for (int op = 0; op < s->cfg.nops; op++) {
        double *base = s->base + (size_t)op * cells;
        for (int k = 0; k < SIM_CALIB_STEPS; k++) {
            step_op(s, op, k, 1, scratch, NULL);
            for (size_t c = 0; c < cells; c++) base[c] += scratch[c] / SIM_CALIB_STEPS;
        }
    }
    free(scratch);
    s->tok_step = -1;
    for (int f = 0; f < s->cfg.nfaults; f++)
        for (int op = 0; op < s->cfg.nops; op++) init_fault_delay(s, f, op);
    return 0;
}

sim *sim_new(const sim_config *cfg)
{
    if (sim_config_check(cfg, NULL, 0)) return NULL;
    sim *s = calloc(1, sizeof *s);
    double *nodepair = NULL;
    if (!s) return NULL;
    s->cfg = *cfg;
    s->n = cfg->world;
    s->nnodes = (cfg->world + cfg->per_node - 1) / cfg->per_node;
    s->nexperts = cfg->world * cfg->experts_per_rank;
    s->tok_step = -1;
    size_t n = (size_t)s->n, cells = n * n;
    s->lat = malloc(cells * sizeof *s->lat);
    s->per_token = malloc(cells * sizeof *s->per_token);
    s->tok = malloc(cells * sizeof *s->tok);
    s->base = calloc(cells * cfg->nops, sizeof *s->base);
    s->fault_delay = calloc(n * cfg->nops * (cfg->nfaults + 1), sizeof *s->fault_delay);
    s->speed = malloc(n * sizeof *s->speed);
    s->rank_pop = malloc(n * sizeof *s->rank_pop);
    s->recv_ratio = malloc(n * sizeof *s->recv_ratio);
    s->ready = malloc(n * sizeof *s->ready);
    s->row_mult = malloc(n * sizeof *s->row_mult);
    s->zipf = malloc((size_t)s->nexperts * sizeof *s->zipf);
    s->period = malloc((size_t)s->nexperts * sizeof *s->period);
    s->phase = malloc((size_t)s->nexperts * sizeof *s->phase);
    nodepair = malloc((size_t)s->nnodes * s->nnodes * sizeof *nodepair);
    if (!s->lat || !s->per_token || !s->tok || !s->base || !s->fault_delay || !s->speed ||
        !s->rank_pop || !s->recv_ratio || !s->ready || !s->row_mult || !s->zipf ||
        !s->period || !s->phase || !nodepair)
        goto fail;
    init_static(s, nodepair);
    if (calibrate(s)) goto fail;
    free(nodepair);
    return s;
fail:
    free(nodepair);
    sim_free(s);
    return NULL;
}

void sim_step(sim *s, int op, int64_t step, double *wait_ns, int64_t *tokens)
{
    if (!s || !wait_ns || op < 0 || op >= s->cfg.nops || step < 0) return;
    step_op(s, op, step, 0, wait_ns, tokens);
}

void sim_free(sim *s)
{
    if (!s) return;
    free(s->lat);
    free(s->per_token);
    free(s->tok);
    free(s->base);
    free(s->fault_delay);
    free(s->speed);
    free(s->rank_pop);
    free(s->recv_ratio);
    free(s->ready);
    free(s->row_mult);
    free(s->zipf);
    free(s->period);
    free(s->phase);
    free(s);
}
