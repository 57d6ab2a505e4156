/* sim.c - the cluster model behind dxt-synth (API: sim.h): one step of one op
 * -> the N x N wait matrix (ns) and the token matrix, with injected faults,
 * any block of rows at a time. Owner: the simulator engineer (samples/sim*.c,
 * tools/dxt-synth.c); the knobs, the parser and the config check live in
 * sim_fault.c. The knobs (cfg->noise, SIM_NOISE_KNOBS) are written k.name.
 *
 * Healthy model, per step and op (all times ns, from a common start):
 *   routing   expert e's popularity p_e = zipf_e * exp(0.1 sin(2 pi t/P_e + phi_e))
 *             (mild Zipf, slow drift, P_e 2k..20k steps); rank i's load share s_i is
 *             the sum over its experts times a per-step fluctuation exp(load_sigma z).
 *             Dispatch tokens i gets from j ~ Normal(mu_i, sqrt(mu_i)), mu_i =
 *             tokens_per_rank * topk * s_i. Combine sends the results back:
 *             tokens_combine[i][j] = tokens[j][i].
 *   ready_j   100 us * speed_j (static lognormal, speed_sigma)
 *             * (combine: (1 - compute_load) + compute_load * N * s_j: expert compute
 *               follows the tokens j received)
 *             + launch skew_j (dispatch; a share skew_ranks of the ranks, stable,
 *               skew_min_ns..skew_max_ns) + jitter * T_intra * z (every step).
 *             T_intra = 1.5 us + 30 ns * tokens per cell: the intra-node transfer time.
 *   transfer  j->i: (lat + tokens * per_token) * level_ij * exp(sd_ij * z); NVLink inside
 *             a node 1.5 us + 30 ns/token, RDMA across 32 us + 300 ns/token; level_ij =
 *             exp(pair_sigma z) * the ordered node pair's exp(nodepair_sigma z), static;
 *             sd_ij = noise * exp(noise_spread z) * the node pair's exp(noise_spread z).
 *   wait[i][j] = max(0, ready_j + transfer_ij - ready_i) + floor_ns (+-10%): with
 *             floor_ns 0 the clipped cells are exact zeros.
 *   wait[i][i] = diag * T_intra * (static lognormal .3 per rank) * (+-10% per step)
 *             + floor_ns: the self-wait.
 *   spikes    with spike_prob per cell and step (off the diagonal), a size x from a
 *             Pareto(spike_min, spike_alpha) capped at spike_max; a share spike_mult
 *             multiplies the wait by x, the others add x * the cell's scale (its
 *             expected transfer time).
 *   warm-up   steps < warmup_steps add warmup_min..warmup_max (log-uniform per step) x
 *             the cell's scale (T_intra on the diagonal) x lognormal(.5) to every cell.
 *   stalls    with stall_prob per rank and step its host stalls for 1..stall_steps
 *             steps: ready_j later by Pareto(stall_min, stall_alpha) x the compute
 *             time (at most 1000x): its column rises, its row falls (off by default).
 * Faults (magnitude m):
 *   slow_source r      r is ready later by the delay d that makes column r's mean
 *                      healthy wait m x (found by bisection on calibration steps, so
 *                      clipping is accounted for); row r drops towards zero.
 *   slow_destination r wait[r][j] * m for every j (row r exactly m x).
 *   slow_path s->d     wait[d][s] * m (the cell exactly m x).
 *   slow_node K        as source: every rank of K late by one d making the mean of the
 *                      off-node cells of K's columns m x (waits inside K unchanged); as
 *                      destination: rows of K * m.
 *   load_imbalance r   rank r's expert popularity * m (a hot expert): its dispatch tokens
 *                      ~ m x the others' (less the renormalisation), so its dispatch row and
 *                      its combine column (more data back, later expert compute) rise with
 *                      the tokens. Not an exact m x of any wait.
 * Several faults multiply/add. Duty < 1: on in 20-step blocks, each on with
 * probability duty (a hash of seed, fault and block).
 *
 * Determinism and memory: every random number is a hash (splitmix64's
 * finalizer) of (seed, stream, step, i, j), so any cell of any step can be
 * computed alone: rows, columns and blocks agree with the whole matrix. The
 * state is O(N) plus the static pair terms of the rows last asked for. */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIM_COMPUTE_NS 100000.0
#define SIM_FLOOR_SIGMA 0.1
#define SIM_DIAG_STATIC_SIGMA 0.3
#define SIM_DIAG_SIGMA 0.1
#define SIM_WARMUP_SIGMA 0.5
#define SIM_NVL_LAT_NS 1500.0
#define SIM_NVL_TOKEN_NS 30.0
#define SIM_RDMA_LAT_NS 32000.0
#define SIM_RDMA_TOKEN_NS 300.0
#define SIM_LEVEL_MIN 0.2
#define SIM_LEVEL_MAX 5.0
#define SIM_SD_MAX 3.0
#define SIM_ZIPF_S 0.3
#define SIM_DRIFT_AMP 0.1
#define SIM_DRIFT_MIN_STEPS 2000.0
#define SIM_DRIFT_MAX_STEPS 20000.0
#define SIM_BURST_STEPS 20
#define SIM_CALIB_STEPS 32
#define SIM_BISECT_ITERS 30
#define SIM_TWO_PI 6.283185307179586
#define SIM_GOLDEN 0x9E3779B97F4A7C15ull

/* Random streams: each (stream, step) has a key; each cell a hash of it. */
enum {
    STREAM_STATIC = 1, STREAM_STATIC_NOISE, STREAM_RANK, STREAM_NODEPAIR, STREAM_EXPERT,
    STREAM_TOKENS, STREAM_LOAD, STREAM_BURST, STREAM_READY = 16, STREAM_CELL = 32,
    STREAM_SPIKE = 48, STREAM_WARMUP = 64, STREAM_STALL = 80
};

/* The state of one (op, step): per-rank times and multipliers, per-step keys. */
typedef struct step_ctx {
    int valid, op, healthy;
    int64_t step;
    double *ready, *row_mult, *mu; /* n each; mu: dispatch tokens per cell i receives */
    uint64_t k_cell, k_spike, k_tok;
    double warm;                   /* warm-up factor of the step, 0 when none */
} step_ctx;

struct sim {
    sim_config cfg;
    int n, nnodes, nexperts;
    double intra_ns;                 /* T_intra */
    uint64_t k_static, k_static_noise;
    double *speed, *skew, *diag;     /* n */
    double *np_level, *np_sd;        /* nnodes^2, [src node * nnodes + dst node] */
    double *zipf, *period, *phase;   /* nexperts */
    double *pop;                     /* n, scratch */
    double *fault_delay;             /* nfaults * nops: late start of the fault's sources */
    step_ctx ctx;
    int cache_lo, cache_hi;          /* rows whose static terms are cached */
    size_t cache_cap;
    double *c_lat, *c_tok, *c_sd;    /* (cache_hi - cache_lo) * n */
    double *base;                    /* nops * n * n, sim_baseline's, on demand */
};

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t stream_key(const sim *s, uint64_t stream, int64_t step)
{
    uint64_t k = mix64(s->cfg.seed * SIM_GOLDEN + stream * 0xD1B54A32D192ED03ull + 1);
    return mix64(k + (uint64_t)step * SIM_GOLDEN);
}

static inline uint64_t cell_bits(uint64_t key, int i, int j)
{
    return mix64(key + (((uint64_t)(uint32_t)i << 32) | (uint32_t)j) * SIM_GOLDEN);
}

/* Uniform in (0, 1). */
static inline double unif(uint64_t b) { return ((b >> 11) + 0.5) * 0x1.0p-53; }

/* Approximately standard normal (Irwin-Hall of four 16-bit parts, |z| < 3.5). */
static inline double normal(uint64_t x)
{
    double sum = (double)(x & 0xffff) + (double)((x >> 16) & 0xffff) +
                 (double)((x >> 32) & 0xffff) + (double)(x >> 48);
    return ((sum + 2.0) / 65536.0 - 2.0) * 1.7320508075688772;
}

/* Two coarser normals from one hash (four bytes each). */
static inline void normal2(uint64_t x, double *a, double *b)
{
    uint64_t lo = (x & 0x00ff00ff00ff00ffull) + ((x >> 8) & 0x00ff00ff00ff00ffull);
    uint64_t pa = (lo & 0xffff) + ((lo >> 16) & 0xffff), pb = ((lo >> 32) & 0xffff) + (lo >> 48);
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
    uint64_t key = stream_key(s, STREAM_BURST, (step - fault->onset) / SIM_BURST_STEPS);
    return unif(cell_bits(key, f, 0)) < fault->duty;
}

double sim_unit(const sim *s, uint64_t stream, int64_t step, int i, int j)
{
    if (!s) return 0.5;
    return unif(cell_bits(stream_key(s, 1000 + stream, step), i, j));
}

double sim_launch_skew(const sim *s, int op, int r)
{
    if (!s || op != 0 || r < 0 || r >= s->n) return 0.0;
    return s->skew[r];
}

/* The static terms of path j -> i: latency, per-token time, noise sd. */
static void pair_static(const sim *s, int i, int j, double *lat, double *per_token, double *sd)
{
    const sim_noise *k = &s->cfg.noise;
    size_t np = (size_t)node_of(s, j) * s->nnodes + node_of(s, i);
    double level = exp(k->pair_sigma * normal(cell_bits(s->k_static, i, j))) * s->np_level[np];
    double noise = k->noise * exp(k->noise_spread * normal(cell_bits(s->k_static_noise, i, j)));
    level = clip(level, SIM_LEVEL_MIN, SIM_LEVEL_MAX);
    *sd = clip(noise * s->np_sd[np], 0.0, SIM_SD_MAX);
    if (i == j) {
        *lat = *per_token = 0.0;
    } else if (node_of(s, i) == node_of(s, j)) {
        *lat = SIM_NVL_LAT_NS * level;
        *per_token = SIM_NVL_TOKEN_NS * level;
    } else {
        *lat = SIM_RDMA_LAT_NS * level;
        *per_token = SIM_RDMA_TOKEN_NS * level;
    }
}

/* Static per-rank speed, skew and self-wait, node pairs, expert popularity. */
static void init_static(sim *s)
{
    const sim_noise *k = &s->cfg.noise;
    uint64_t kr = stream_key(s, STREAM_RANK, 0), kn = stream_key(s, STREAM_NODEPAIR, 0);
    uint64_t ke = stream_key(s, STREAM_EXPERT, 0);
    s->k_static = stream_key(s, STREAM_STATIC, 0);
    s->k_static_noise = stream_key(s, STREAM_STATIC_NOISE, 0);
    s->intra_ns = SIM_NVL_LAT_NS + SIM_NVL_TOKEN_NS * (double)s->cfg.tokens_per_rank *
                                       s->cfg.topk / s->n;
    for (int j = 0; j < s->n; j++) {
        s->speed[j] = exp(k->speed_sigma * normal(cell_bits(kr, j, 0)));
        s->skew[j] = unif(cell_bits(kr, j, 1)) < k->skew_ranks
                         ? k->skew_min_ns + unif(cell_bits(kr, j, 2)) * (k->skew_max_ns -
                                                                          k->skew_min_ns)
                         : 0.0;
        s->diag[j] = k->diag * s->intra_ns *
                     exp(SIM_DIAG_STATIC_SIGMA * normal(cell_bits(kr, j, 3)));
    }
    for (int a = 0; a < s->nnodes; a++)
        for (int b = 0; b < s->nnodes; b++) {
            size_t c = (size_t)a * s->nnodes + b;
            s->np_level[c] = exp(k->nodepair_sigma * normal(cell_bits(kn, a, b)));
            s->np_sd[c] = exp(k->noise_spread * normal(cell_bits(kn, a, b + s->nnodes)));
        }
    for (int e = 0; e < s->nexperts; e++) {
        double zipf_rank = floor(unif(cell_bits(ke, e, 0)) * s->nexperts) + 1.0;
        s->zipf[e] = pow(zipf_rank, -SIM_ZIPF_S);
        s->period[e] = SIM_DRIFT_MIN_STEPS +
                       unif(cell_bits(ke, e, 1)) * (SIM_DRIFT_MAX_STEPS - SIM_DRIFT_MIN_STEPS);
        s->phase[e] = SIM_TWO_PI * unif(cell_bits(ke, e, 2));
    }
}

/* ctx->mu: the dispatch tokens per cell each rank receives at this step. */
static void rank_loads(sim *s, int64_t step, int healthy)
{
    int n = s->n, epr = s->cfg.experts_per_rank;
    double total = 0.0, pairs = (double)s->cfg.tokens_per_rank * s->cfg.topk;
    uint64_t kl = stream_key(s, STREAM_LOAD, step);
    for (int i = 0; i < n; i++) {
        double pop = 0.0;
        for (int e = i * epr; e < (i + 1) * epr; e++)
            pop += s->zipf[e] *
                   exp(SIM_DRIFT_AMP * sin(SIM_TWO_PI * (double)step / s->period[e] + s->phase[e]));
        s->pop[i] = pop * exp(s->cfg.noise.load_sigma * normal(cell_bits(kl, i, 0)));
    }
    for (int f = 0; !healthy && f < s->cfg.nfaults; f++)
        if (s->cfg.faults[f].kind == SIM_LOAD_IMBALANCE && sim_fault_active(s, f, -1, step))
            s->pop[s->cfg.faults[f].rank] *= s->cfg.faults[f].magnitude;
    for (int i = 0; i < n; i++) total += s->pop[i];
    for (int i = 0; i < n; i++) s->ctx.mu[i] = pairs * s->pop[i] / total;
}

/* The faults' late starts and slow receivers, into the step's context. */
static void apply_rank_faults(sim *s, int op, int64_t step)
{
    step_ctx *c = &s->ctx;
    for (int f = 0; f < s->cfg.nfaults; f++) {
        const sim_fault *fault = &s->cfg.faults[f];
        if (!sim_fault_active(s, f, op, step)) continue;
        double delay = s->fault_delay[(size_t)f * s->cfg.nops + op];
        for (int j = 0; j < s->n; j++) {
            int node_hit = node_of(s, j) == fault->node;
            if (fault->kind == SIM_SLOW_SOURCE && j == fault->rank) c->ready[j] += delay;
            if (fault->kind == SIM_SLOW_NODE && node_hit && fault->as_source) c->ready[j] += delay;
            if (fault->kind == SIM_SLOW_NODE && node_hit && !fault->as_source)
                c->row_mult[j] *= fault->magnitude;
        }
        if (fault->kind == SIM_SLOW_DESTINATION) c->row_mult[fault->rank] *= fault->magnitude;
    }
}

/* Rank j's stalls at step (ns): a stall of its host starts at a rank and step
 * with stall_prob, lasts 1..stall_steps steps (every op) and holds the rank
 * back by a Pareto(stall_min, stall_alpha) multiple of the compute time (at
 * most 1000) while it lasts. Stateless: the starts that may still last are
 * looked up. */
static double stall_ns(const sim *s, int j, int64_t step)
{
    const sim_noise *k = &s->cfg.noise;
    int longest = (int)k->stall_steps;
    double total = 0.0;
    for (int d = 0; d < longest && step - d >= 0; d++) {
        uint64_t b = cell_bits(stream_key(s, STREAM_STALL, step - d), j, 0);
        if (unif(b) >= k->stall_prob) continue;
        uint64_t b2 = mix64(b);
        if (d >= 1 + (int)(unif(b2) * longest)) continue;
        double x = k->stall_min * pow(unif(mix64(b2)), -1.0 / k->stall_alpha);
        total += SIM_COMPUTE_NS * clip(x, 1.0, 1000.0);
    }
    return total;
}

/* Fill the context of (op, step) unless it is the current one. */
static void ctx_fill(sim *s, int op, int64_t step, int healthy)
{
    step_ctx *c = &s->ctx;
    const sim_noise *k = &s->cfg.noise;
    if (c->valid && c->op == op && c->step == step && c->healthy == healthy) return;
    int combine = op % 2 == 1;
    double jitter = k->jitter * s->intra_ns;
    rank_loads(s, step, healthy);
    uint64_t kr = stream_key(s, STREAM_READY + (uint64_t)op, step);
    for (int j = 0; j < s->n; j++) {
        double compute = SIM_COMPUTE_NS * s->speed[j];
        if (combine)
            compute *= (1.0 - k->compute_load) +
                       k->compute_load * c->mu[j] * s->n / ((double)s->cfg.tokens_per_rank *
                                                            s->cfg.topk);
        c->ready[j] = compute + (op == 0 ? s->skew[j] : 0.0) + jitter * normal(cell_bits(kr, j, 0));
        if (!healthy && k->stall_prob > 0.0) c->ready[j] += stall_ns(s, j, step);
        c->row_mult[j] = 1.0;
    }
    if (!healthy) apply_rank_faults(s, op, step);
    c->k_cell = stream_key(s, STREAM_CELL + (uint64_t)op, step);
    c->k_spike = stream_key(s, STREAM_SPIKE + (uint64_t)op, step);
    c->k_tok = stream_key(s, STREAM_TOKENS, step);
    c->warm = 0.0;
    if (!healthy && step < (int64_t)k->warmup_steps) {
        double lo = log(k->warmup_min), hi = log(k->warmup_max > k->warmup_min ? k->warmup_max
                                                                               : k->warmup_min);
        c->warm = exp(lo + (hi - lo) * unif(cell_bits(stream_key(s, STREAM_WARMUP, step), op, 0)));
    }
    c->valid = 1;
    c->op = op;
    c->step = step;
    c->healthy = healthy;
}

/* Dispatch tokens that rank recv gets from rank send at the context's step. */
static int64_t tokens_cell(const step_ctx *c, int recv, int send)
{
    double mu = c->mu[recv];
    double x = mu + sqrt(mu) * normal(cell_bits(c->k_tok, recv, send));
    return x > 0.0 ? (int64_t)(x + 0.5) : 0;
}

/* The wait of i for j before path faults, spikes and warm-up; extra: a late
 * start added to j (calibration). */
static double cell_base(const sim *s, int i, int j, double lat, double per_token, double sd,
                        int64_t tok, double extra)
{
    const step_ctx *c = &s->ctx;
    double z_xfer, z_floor;
    normal2(cell_bits(c->k_cell, i, j), &z_xfer, &z_floor);
    double floor_ns = s->cfg.noise.floor_ns * (1.0 + SIM_FLOOR_SIGMA * z_floor);
    if (i == j) return (s->diag[i] * exp(SIM_DIAG_SIGMA * z_xfer) + floor_ns) * c->row_mult[i];
    double xfer = (lat + (double)tok * per_token) * exp(sd * z_xfer);
    double late = c->ready[j] + extra + xfer - c->ready[i];
    return ((late > 0.0 ? late : 0.0) + floor_ns) * c->row_mult[i];
}

/* A spike on cell (i, j), if one falls there; scale: the cell's typical wait. */
static double spike(const sim *s, int i, int j, double wait, double scale)
{
    const sim_noise *k = &s->cfg.noise;
    uint64_t b = cell_bits(s->ctx.k_spike, i, j);
    if (i == j || unif(b) >= s->cfg.spike_prob) return wait;
    uint64_t b2 = mix64(b);
    double x = clip(k->spike_min * pow(unif(b2), -1.0 / k->spike_alpha), 1.0, k->spike_max);
    if (unif(mix64(b2)) < k->spike_mult) return wait * x;
    return wait + scale * x;
}

/* Row i of the context's step, static terms given; tok_row may be NULL. */
static void row_values(sim *s, int i, const double *lat, const double *per_token,
                       const double *sd, double *row, int64_t *tok_row)
{
    const step_ctx *c = &s->ctx;
    int combine = c->op % 2 == 1;
    for (int j = 0; j < s->n; j++) {
        int64_t tok = combine ? tokens_cell(c, j, i) : tokens_cell(c, i, j);
        double mu = combine ? c->mu[j] : c->mu[i];
        if (tok_row) tok_row[j] = tok;
        double w = cell_base(s, i, j, lat[j], per_token[j], sd[j], tok, 0.0);
        double scale = i == j ? s->intra_ns : lat[j] + mu * per_token[j];
        if (s->cfg.spike_prob > 0.0) w = spike(s, i, j, w, scale);
        if (c->warm > 0.0)
            w += c->warm * scale * exp(SIM_WARMUP_SIGMA * normal(mix64(cell_bits(c->k_spike, j, i))));
        row[j] = w;
    }
    for (int f = 0; !c->healthy && f < s->cfg.nfaults; f++) {
        const sim_fault *fault = &s->cfg.faults[f];
        if (fault->kind == SIM_SLOW_PATH && fault->dst == i && sim_fault_active(s, f, c->op, c->step))
            row[fault->src] *= fault->magnitude;
    }
}

/* Cache the static terms of rows [lo, hi). */
static int cache_rows(sim *s, int lo, int hi)
{
    size_t n = (size_t)s->n, need = (size_t)(hi - lo) * n;
    if (s->cache_lo == lo && s->cache_hi == hi && s->c_lat) return 0;
    if (need > s->cache_cap) {
        free(s->c_lat);
        free(s->c_tok);
        free(s->c_sd);
        s->c_lat = malloc(need * sizeof *s->c_lat);
        s->c_tok = malloc(need * sizeof *s->c_tok);
        s->c_sd = malloc(need * sizeof *s->c_sd);
        s->cache_cap = need;
        if (!s->c_lat || !s->c_tok || !s->c_sd) {
            s->cache_cap = 0;
            s->cache_hi = s->cache_lo = 0;
            return -1;
        }
    }
    for (int i = lo; i < hi; i++)
        for (int j = 0; j < s->n; j++) {
            size_t c = (size_t)(i - lo) * n + j;
            pair_static(s, i, j, &s->c_lat[c], &s->c_tok[c], &s->c_sd[c]);
        }
    s->cache_lo = lo;
    s->cache_hi = hi;
    return 0;
}

static int is_late_rank(const sim *s, const sim_fault *fault, int r)
{
    if (fault->kind == SIM_SLOW_SOURCE) return r == fault->rank;
    return fault->kind == SIM_SLOW_NODE && fault->as_source && node_of(s, r) == fault->node;
}

/* Mean healthy wait over calibration steps of the cells that judge fault f's
 * late ranks (their columns; off their node for a slow node), with the late
 * ranks delayed by d. */
static double late_columns_mean(sim *s, const sim_fault *fault, int op, double d)
{
    double sum = 0.0;
    long count = 0;
    int node = fault->kind == SIM_SLOW_NODE, single_node = s->nnodes == 1;
    for (int64_t k = 0; k < SIM_CALIB_STEPS; k++) {
        ctx_fill(s, op, k, 1);
        for (int r = 0; r < s->n; r++) {
            if (!is_late_rank(s, fault, r)) continue;
            for (int i = 0; i < s->n; i++) {
                if (i == r || (node && !single_node && node_of(s, i) == fault->node)) continue;
                double lat, per_token, sd, extra = is_late_rank(s, fault, i) ? d : 0.0;
                int64_t tok = op % 2 ? tokens_cell(&s->ctx, r, i) : tokens_cell(&s->ctx, i, r);
                pair_static(s, i, r, &lat, &per_token, &sd);
                sum += cell_base(s, i, r, lat, per_token, sd, tok, d - extra);
                count++;
            }
        }
    }
    return count ? sum / count : 0.0;
}

/* The late start of fault f's sources in op: the delay that makes the mean of
 * their judged cells magnitude x the healthy mean (bisection). */
static void init_fault_delay(sim *s, int f, int op)
{
    const sim_fault *fault = &s->cfg.faults[f];
    double *delay = &s->fault_delay[(size_t)f * s->cfg.nops + op];
    *delay = 0.0;
    int late_kind = fault->kind == SIM_SLOW_SOURCE ||
                    (fault->kind == SIM_SLOW_NODE && fault->as_source);
    if ((fault->op >= 0 && fault->op != op) || !late_kind) return;
    double mean0 = late_columns_mean(s, fault, op, 0.0), target = fault->magnitude * mean0;
    double lo = 0.0, hi = (fault->magnitude - 1.0) * mean0 + 10.0 * s->intra_ns *
                                                             (1.0 + s->cfg.noise.jitter);
    for (int grow = 0; grow < 60 && late_columns_mean(s, fault, op, hi) < target; grow++)
        hi *= 2.0;
    for (int it = 0; it < SIM_BISECT_ITERS; it++) {
        double mid = 0.5 * (lo + hi);
        if (late_columns_mean(s, fault, op, mid) < target) lo = mid;
        else hi = mid;
    }
    *delay = 0.5 * (lo + hi);
}

sim *sim_new(const sim_config *cfg)
{
    if (sim_config_check(cfg, NULL, 0)) return NULL;
    sim *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cfg = *cfg;
    s->n = cfg->world;
    s->nnodes = (cfg->world + cfg->per_node - 1) / cfg->per_node;
    s->nexperts = cfg->world * cfg->experts_per_rank;
    size_t n = (size_t)s->n, nn = (size_t)s->nnodes * s->nnodes;
    s->speed = malloc(n * sizeof *s->speed);
    s->skew = malloc(n * sizeof *s->skew);
    s->diag = malloc(n * sizeof *s->diag);
    s->pop = malloc(n * sizeof *s->pop);
    s->ctx.ready = malloc(n * sizeof *s->ctx.ready);
    s->ctx.row_mult = malloc(n * sizeof *s->ctx.row_mult);
    s->ctx.mu = malloc(n * sizeof *s->ctx.mu);
    s->np_level = malloc(nn * sizeof *s->np_level);
    s->np_sd = malloc(nn * sizeof *s->np_sd);
    s->zipf = malloc((size_t)s->nexperts * sizeof *s->zipf);
    s->period = malloc((size_t)s->nexperts * sizeof *s->period);
    s->phase = malloc((size_t)s->nexperts * sizeof *s->phase);
    s->fault_delay = calloc((size_t)cfg->nops * (cfg->nfaults + 1), sizeof *s->fault_delay);
    if (!s->speed || !s->skew || !s->diag || !s->pop || !s->ctx.ready || !s->ctx.row_mult ||
        !s->ctx.mu || !s->np_level || !s->np_sd || !s->zipf || !s->period || !s->phase ||
        !s->fault_delay)
        goto fail;
    init_static(s);
    for (int f = 0; f < s->cfg.nfaults; f++)
        for (int op = 0; op < s->cfg.nops; op++) init_fault_delay(s, f, op);
    s->ctx.valid = 0;
    return s;
fail:
    sim_free(s);
    return NULL;
}

void sim_rows(sim *s, int op, int64_t step, int row_lo, int row_hi, double *wait_ns,
              int64_t *tokens)
{
    if (!s || !wait_ns || op < 0 || op >= s->cfg.nops || step < 0 || row_lo < 0 ||
        row_hi > s->n || row_lo >= row_hi)
        return;
    size_t n = (size_t)s->n;
    ctx_fill(s, op, step, 0);
    if (cache_rows(s, row_lo, row_hi)) { /* out of memory: the static terms one row at a time */
        double *tmp = malloc(3 * n * sizeof *tmp);
        for (int i = row_lo; tmp && i < row_hi; i++) {
            for (int j = 0; j < s->n; j++) pair_static(s, i, j, &tmp[j], &tmp[n + j], &tmp[2 * n + j]);
            row_values(s, i, tmp, tmp + n, tmp + 2 * n, wait_ns + (size_t)(i - row_lo) * n,
                       tokens ? tokens + (size_t)(i - row_lo) * n : NULL);
        }
        if (!tmp) memset(wait_ns, 0, (size_t)(row_hi - row_lo) * n * sizeof *wait_ns);
        free(tmp);
        return;
    }
    for (int i = row_lo; i < row_hi; i++) {
        size_t off = (size_t)(i - row_lo) * n;
        row_values(s, i, s->c_lat + off, s->c_tok + off, s->c_sd + off, wait_ns + off,
                   tokens ? tokens + off : NULL);
    }
}

void sim_step(sim *s, int op, int64_t step, double *wait_ns, int64_t *tokens)
{
    if (s) sim_rows(s, op, step, 0, s->n, wait_ns, tokens);
}

const double *sim_baseline(sim *s, int op)
{
    if (!s || op < 0 || op >= s->cfg.nops) return NULL;
    size_t n = (size_t)s->n, cells = n * n;
    if (!s->base) {
        double *base = calloc(cells * s->cfg.nops, sizeof *base);
        if (!base || cache_rows(s, 0, s->n)) {
            free(base);
            return NULL;
        }
        for (int o = 0; o < s->cfg.nops; o++)
            for (int64_t k = 0; k < SIM_CALIB_STEPS; k++) {
                ctx_fill(s, o, k, 1);
                for (int i = 0; i < s->n; i++)
                    for (int j = 0; j < s->n; j++) {
                        size_t c = (size_t)i * n + j;
                        int64_t tok = o % 2 ? tokens_cell(&s->ctx, j, i) : tokens_cell(&s->ctx, i, j);
                        base[o * cells + c] += cell_base(s, i, j, s->c_lat[c], s->c_tok[c],
                                                         s->c_sd[c], tok, 0.0) / SIM_CALIB_STEPS;
                    }
            }
        s->ctx.valid = 0;
        s->base = base;
    }
    return s->base + (size_t)op * cells;
}

void sim_free(sim *s)
{
    if (!s) return;
    free(s->speed);
    free(s->skew);
    free(s->diag);
    free(s->pop);
    free(s->ctx.ready);
    free(s->ctx.row_mult);
    free(s->ctx.mu);
    free(s->np_level);
    free(s->np_sd);
    free(s->zipf);
    free(s->period);
    free(s->phase);
    free(s->fault_delay);
    free(s->c_lat);
    free(s->c_tok);
    free(s->c_sd);
    free(s->base);
    free(s);
}
