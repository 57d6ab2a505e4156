/* sim_fault.c - the simulator's configuration half: defaults, the fault
 * parser behind `dxt-synth --fault KIND:key=value,...`, the noise knobs behind
 * `--noise` (sim_noise_parse), and the config check.
 * Owner: the simulator engineer (samples/sim*.c, tools/dxt-synth.c).
 *
 * Fault syntax (documented to users by dxt-synth --help):
 *   KIND:key=value,key=value,...
 *   KIND  slow_source | slow_destination | slow_path | slow_node | load_imbalance
 *   op=NAME|all      (default all; load_imbalance changes the routing: all only)
 *   rank=R           slow_source, slow_destination, load_imbalance (required)
 *   src=S,dst=D      slow_path (both required, S != D)
 *   node=K|node-K    slow_node (required)
 *   as=source|destination   slow_node (default source)
 *   onset=STEP       default 0
 *   end=STEP         first step after the fault; default -1 (to the last step)
 *   magnitude=X, x=X default 2, 1 <= X <= 1000
 *   duty=F           fraction of steps on, 0 < F <= 1 (default 1: persistent) */
#include "sim.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_MAX_WORLD 4096
#define SIM_SPEC_MAX 512

static const char *const sim_kind_names[] = {
#define SIM_KIND_NAME(id, str) str,
    SIM_FAULT_KINDS(SIM_KIND_NAME)
#undef SIM_KIND_NAME
};

/* The keys of a fault spec, and which kinds take them. */
#define SIM_FAULT_KEYS(X)      \
    X(KEY_OP, "op")            \
    X(KEY_RANK, "rank")        \
    X(KEY_SRC, "src")          \
    X(KEY_DST, "dst")          \
    X(KEY_NODE, "node")        \
    X(KEY_AS, "as")            \
    X(KEY_ONSET, "onset")      \
    X(KEY_END, "end")          \
    X(KEY_MAGNITUDE, "magnitude") \
    X(KEY_X, "x")              \
    X(KEY_DUTY, "duty")

typedef enum {
#define SIM_KEY_ENUM(id, str) id,
    SIM_FAULT_KEYS(SIM_KEY_ENUM)
#undef SIM_KEY_ENUM
    KEY_COUNT
} sim_key;

static const char *const sim_key_names[] = {
#define SIM_KEY_NAME(id, str) str,
    SIM_FAULT_KEYS(SIM_KEY_NAME)
#undef SIM_KEY_NAME
};

#define KEYBIT(k) (1u << (k))
#define COMMON_KEYS \
    (KEYBIT(KEY_OP) | KEYBIT(KEY_ONSET) | KEYBIT(KEY_END) | KEYBIT(KEY_MAGNITUDE) | \
     KEYBIT(KEY_X) | KEYBIT(KEY_DUTY))

static unsigned kind_keys(sim_kind kind)
{
    switch (kind) {
    case SIM_SLOW_PATH: return COMMON_KEYS | KEYBIT(KEY_SRC) | KEYBIT(KEY_DST);
    case SIM_SLOW_NODE: return COMMON_KEYS | KEYBIT(KEY_NODE) | KEYBIT(KEY_AS);
    default: return COMMON_KEYS | KEYBIT(KEY_RANK);
    }
}

const char *sim_kind_str(sim_kind kind)
{
    if ((int)kind < 0 || kind >= SIM_KIND_COUNT) return "?";
    return sim_kind_names[kind];
}

void sim_config_init(sim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->world = 16;
    cfg->per_node = 8;
    cfg->steps = 1000;
    cfg->seed = 1;
    cfg->nops = 2;
    cfg->topk = 8;
    cfg->tokens_per_rank = 128;
    cfg->spike_prob = 1e-3;
    cfg->experts_per_rank = 4;
#define SIM_NOISE_DEFAULT(name, def, lo, hi, help) cfg->noise.name = def;
    SIM_NOISE_KNOBS(SIM_NOISE_DEFAULT)
#undef SIM_NOISE_DEFAULT
}

static int fail_msg(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int parse_int64(const char *text, int64_t min, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *text, int *out)
{
    int64_t v;
    if (parse_int64(text, 0, &v) || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

static int parse_op(const char *val, const char *const *op_names, int nops, int *out)
{
    if (strcmp(val, "all") == 0) {
        *out = -1;
        return 0;
    }
    for (int i = 0; i < nops; i++) {
        if (op_names && op_names[i] && strcmp(val, op_names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

void sim_noise_calm(sim_config *cfg)
{
    sim_noise *k = &cfg->noise;
    cfg->spike_prob = 1e-4;
    k->jitter = 0.15;
    k->floor_ns = 2000.0;
    k->spike_min = 2.0;
    k->spike_alpha = 1.5;
    k->spike_max = 200.0;
    k->spike_mult = 0.0;
    k->pair_sigma = 0.15;
    k->nodepair_sigma = 0.35;
    k->noise = 0.05;
    k->noise_spread = 0.0;
    k->speed_sigma = 0.01;
    k->compute_load = 0.05;
    k->load_sigma = 0.0;
    k->skew_ranks = 0.0;
    k->diag = 0.0;
    k->warmup_steps = 0.0;
}

/* The knobs, by index: name, bounds, help, and where the value lives. */
typedef struct noise_knob {
    const char *name, *help;
    double def, lo, hi;
    size_t offset; /* in sim_noise; spike_prob (in sim_config) comes first */
} noise_knob;

static const noise_knob noise_knobs[] = {
    {"spike_prob", "spikes per cell and step", 1e-3, 0.0, 0.5, 0},
#define SIM_NOISE_ROW(name, def, lo, hi, help) {#name, help, def, lo, hi, offsetof(sim_noise, name)},
    SIM_NOISE_KNOBS(SIM_NOISE_ROW)
#undef SIM_NOISE_ROW
};
#define NOISE_KNOB_COUNT ((int)(sizeof noise_knobs / sizeof noise_knobs[0]))

static double *knob_value(sim_config *cfg, int k)
{
    if (k == 0) return &cfg->spike_prob;
    return (double *)((char *)&cfg->noise + noise_knobs[k].offset);
}

const char *sim_noise_knob(const sim_config *cfg, int k, double *value)
{
    if (!cfg || k < 0 || k >= NOISE_KNOB_COUNT) return NULL;
    if (value) *value = *knob_value((sim_config *)cfg, k);
    return noise_knobs[k].name;
}

void sim_noise_help(const sim_config *cfg, char *buf, size_t len)
{
    size_t used = 0;
    if (!buf || !len) return;
    buf[0] = '\0';
    for (int k = 0; k < NOISE_KNOB_COUNT && used < len; k++) {
        int w = snprintf(buf + used, len - used, "    %-15s %-9g %s\n", noise_knobs[k].name,
                         *knob_value((sim_config *)cfg, k), noise_knobs[k].help);
        if (w < 0) break;
        used += (size_t)w;
    }
}

int sim_noise_parse(sim_config *cfg, const char *spec, char *err, size_t errlen)
{
    char buf[SIM_SPEC_MAX], *save = NULL;
    if (!cfg || !spec) return fail_msg(err, errlen, "no noise spec");
    if (strlen(spec) >= sizeof buf) return fail_msg(err, errlen, "noise spec too long");
    strcpy(buf, spec);
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (strcmp(item, "calm") == 0) {
            sim_noise_calm(cfg);
            continue;
        }
        if (strcmp(item, "default") == 0) {
            sim_config def;
            sim_config_init(&def);
            cfg->noise = def.noise;
            cfg->spike_prob = def.spike_prob;
            continue;
        }
        char *val = strchr(item, '=');
        if (!val) return fail_msg(err, errlen, "'%s' is not calm, default or knob=value", item);
        *val++ = '\0';
        int k = 0;
        while (k < NOISE_KNOB_COUNT && strcmp(item, noise_knobs[k].name)) k++;
        if (k == NOISE_KNOB_COUNT) return fail_msg(err, errlen, "unknown noise knob '%s'", item);
        double v;
        if (parse_double(val, &v) || v < noise_knobs[k].lo || v > noise_knobs[k].hi)
            return fail_msg(err, errlen, "bad value '%s' for %s (a number from %g to %g)", val,
                            item, noise_knobs[k].lo, noise_knobs[k].hi);
        *knob_value(cfg, k) = v;
    }
    return 0;
}

/* One key=value into *f. Returns 0, or -1 with err naming the part. */
static int apply_key(sim_key key, const char *val, const char *const *op_names, int nops,
                     sim_fault *f, char *err, size_t errlen)
{
    int bad = 0;
    const char *want = "";
    switch (key) {
    case KEY_OP:
        bad = parse_op(val, op_names, nops, &f->op);
        want = "an op name or all";
        break;
    case KEY_RANK: bad = parse_int(val, &f->rank); want = "an integer >= 0"; break;
    case KEY_SRC: bad = parse_int(val, &f->src); want = "an integer >= 0"; break;
    case KEY_DST: bad = parse_int(val, &f->dst); want = "an integer >= 0"; break;
    case KEY_NODE:
        bad = parse_int(strncmp(val, "node-", 5) == 0 ? val + 5 : val, &f->node);
        want = "a node index K or node-K";
        break;
    case KEY_AS:
        bad = strcmp(val, "source") && strcmp(val, "destination");
        f->as_source = strcmp(val, "source") == 0;
        want = "source or destination";
        break;
    case KEY_ONSET: bad = parse_int64(val, 0, &f->onset); want = "a step >= 0"; break;
    case KEY_END: bad = parse_int64(val, -1, &f->end); want = "a step, or -1"; break;
    case KEY_MAGNITUDE:
    case KEY_X:
        bad = parse_double(val, &f->magnitude) || f->magnitude < 1.0 || f->magnitude > 1000.0;
        want = "a number from 1 to 1000";
        break;
    case KEY_DUTY:
        bad = parse_double(val, &f->duty) || !(f->duty > 0.0 && f->duty <= 1.0);
        want = "a fraction in (0, 1]";
        break;
    default: bad = 1; break;
    }
    if (bad)
        return fail_msg(err, errlen, "bad value '%s' for %s (%s)", val, sim_key_names[key], want);
    return 0;
}

static int find_key(const char *name, sim_key *out)
{
    for (int k = 0; k < KEY_COUNT; k++) {
        if (strcmp(name, sim_key_names[k]) == 0) {
            *out = (sim_key)k;
            return 0;
        }
    }
    return -1;
}

static int parse_kind(const char *name, sim_kind *out)
{
    for (int k = 0; k < SIM_KIND_COUNT; k++) {
        if (strcmp(name, sim_kind_names[k]) == 0) {
            *out = (sim_kind)k;
            return 0;
        }
    }
    return -1;
}

/* Required keys of the kind, and cross-key rules. */
static int check_parsed(const sim_fault *f, unsigned seen, char *err, size_t errlen)
{
    const char *kind = sim_kind_str(f->kind);
    if (f->kind == SIM_SLOW_PATH) {
        if (!(seen & KEYBIT(KEY_SRC)) || !(seen & KEYBIT(KEY_DST)))
            return fail_msg(err, errlen, "%s needs src= and dst=", kind);
        if (f->src == f->dst)
            return fail_msg(err, errlen, "%s: src and dst are both %d", kind, f->src);
    } else if (f->kind == SIM_SLOW_NODE) {
        if (!(seen & KEYBIT(KEY_NODE))) return fail_msg(err, errlen, "%s needs node=", kind);
    } else if (!(seen & KEYBIT(KEY_RANK))) {
        return fail_msg(err, errlen, "%s needs rank=", kind);
    }
    if (f->kind == SIM_LOAD_IMBALANCE && f->op != -1)
        return fail_msg(err, errlen, "%s: op must be all (routing is shared by every op)", kind);
    if (f->end != -1 && f->end <= f->onset)
        return fail_msg(err, errlen, "end=%lld is not after onset=%lld", (long long)f->end,
                        (long long)f->onset);
    return 0;
}

void sim_fault_init(sim_fault *f, sim_kind kind)
{
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->op = -1;
    f->rank = f->src = f->dst = f->node = -1;
    f->as_source = 1;
    f->end = -1;
    f->magnitude = 2.0;
    f->duty = 1.0;
}

int sim_fault_parse(const char *spec, const char *const *op_names, int nops, int per_node,
                    sim_fault *out, char *err, size_t errlen)
{
    char buf[SIM_SPEC_MAX];
    sim_fault f;
    unsigned seen = 0;
    (void)per_node; /* nodes are named by index; sim_config_check checks the range */
    if (!spec || !out) return fail_msg(err, errlen, "no fault spec");
    if (strlen(spec) >= sizeof buf) return fail_msg(err, errlen, "fault spec too long");
    strcpy(buf, spec);
    sim_fault_init(&f, SIM_SLOW_SOURCE);
    char *keys = strchr(buf, ':');
    if (keys) *keys++ = '\0';
    if (parse_kind(buf, &f.kind))
        return fail_msg(err, errlen, "unknown fault kind '%s' (slow_source, slow_destination, "
                        "slow_path, slow_node, load_imbalance)", buf);
    char *save = NULL;
    for (char *item = keys ? strtok_r(keys, ",", &save) : NULL; item;
         item = strtok_r(NULL, ",", &save)) {
        char *val = strchr(item, '=');
        sim_key key;
        if (!val) return fail_msg(err, errlen, "'%s' is not key=value", item);
        *val++ = '\0';
        if (find_key(item, &key)) return fail_msg(err, errlen, "unknown key '%s'", item);
        if (!(kind_keys(f.kind) & KEYBIT(key)))
            return fail_msg(err, errlen, "key '%s' does not apply to %s", item,
                            sim_kind_str(f.kind));
        if (seen & KEYBIT(key) ||
            (key == KEY_X && (seen & KEYBIT(KEY_MAGNITUDE))) ||
            (key == KEY_MAGNITUDE && (seen & KEYBIT(KEY_X))))
            return fail_msg(err, errlen, "key '%s' given twice", item);
        if (apply_key(key, val, op_names, nops, &f, err, errlen)) return -1;
        seen |= KEYBIT(key);
    }
    if (check_parsed(&f, seen, err, errlen)) return -1;
    *out = f;
    return 0;
}

static int check_fault(const sim_config *cfg, int i, char *err, size_t errlen)
{
    const sim_fault *f = &cfg->faults[i];
    int nnodes = (cfg->world + cfg->per_node - 1) / cfg->per_node;
    const char *kind = sim_kind_str(f->kind);
    if ((int)f->kind < 0 || f->kind >= SIM_KIND_COUNT)
        return fail_msg(err, errlen, "fault %d: unknown kind %d", i, (int)f->kind);
    if (f->op < -1 || f->op >= cfg->nops)
        return fail_msg(err, errlen, "fault %d (%s): op %d out of range", i, kind, f->op);
    if (f->kind == SIM_SLOW_PATH) {
        if (f->src < 0 || f->src >= cfg->world || f->dst < 0 || f->dst >= cfg->world ||
            f->src == f->dst)
            return fail_msg(err, errlen, "fault %d (%s): src %d / dst %d not two ranks of %d", i,
                            kind, f->src, f->dst, cfg->world);
    } else if (f->kind == SIM_SLOW_NODE) {
        if (f->node < 0 || f->node >= nnodes)
            return fail_msg(err, errlen, "fault %d (%s): node %d out of range (%d nodes)", i, kind,
                            f->node, nnodes);
    } else if (f->rank < 0 || f->rank >= cfg->world) {
        return fail_msg(err, errlen, "fault %d (%s): rank %d out of range (world %d)", i, kind,
                        f->rank, cfg->world);
    }
    if (!(f->magnitude >= 1.0 && f->magnitude <= 1000.0))
        return fail_msg(err, errlen, "fault %d (%s): magnitude %g not in [1, 1000]", i, kind,
                        f->magnitude);
    if (!(f->duty > 0.0 && f->duty <= 1.0))
        return fail_msg(err, errlen, "fault %d (%s): duty %g not in (0, 1]", i, kind, f->duty);
    if (f->onset < 0 || (f->end != -1 && f->end <= f->onset))
        return fail_msg(err, errlen, "fault %d (%s): onset %lld / end %lld", i, kind,
                        (long long)f->onset, (long long)f->end);
    return 0;
}

int sim_config_check(const sim_config *cfg, char *err, size_t errlen)
{
    if (!cfg) return fail_msg(err, errlen, "no config");
    if (cfg->world < 2 || cfg->world > SIM_MAX_WORLD)
        return fail_msg(err, errlen, "world %d not in [2, %d]", cfg->world, SIM_MAX_WORLD);
    if (cfg->per_node < 1 || cfg->per_node > cfg->world)
        return fail_msg(err, errlen, "per_node %d not in [1, world %d]", cfg->per_node,
                        cfg->world);
    if (cfg->steps < 1) return fail_msg(err, errlen, "steps %lld < 1", (long long)cfg->steps);
    if (cfg->nops < 1 || cfg->nops > SIM_MAX_OPS)
        return fail_msg(err, errlen, "nops %d not in [1, %d]", cfg->nops, SIM_MAX_OPS);
    if (cfg->experts_per_rank < 1 || cfg->experts_per_rank > 1024)
        return fail_msg(err, errlen, "experts_per_rank %d not in [1, 1024]",
                        cfg->experts_per_rank);
    if (cfg->topk < 1 || cfg->topk > cfg->world * cfg->experts_per_rank)
        return fail_msg(err, errlen, "topk %d not in [1, experts %d]", cfg->topk,
                        cfg->world * cfg->experts_per_rank);
    if (cfg->tokens_per_rank < 1 || cfg->tokens_per_rank > 1000000)
        return fail_msg(err, errlen, "tokens_per_rank %d not in [1, 1000000]",
                        cfg->tokens_per_rank);
    for (int k = 0; k < NOISE_KNOB_COUNT; k++) {
        double v = *knob_value((sim_config *)cfg, k);
        if (!(v >= noise_knobs[k].lo && v <= noise_knobs[k].hi))
            return fail_msg(err, errlen, "noise %s %g not in [%g, %g]", noise_knobs[k].name, v,
                            noise_knobs[k].lo, noise_knobs[k].hi);
    }
    if (cfg->noise.skew_min_ns > cfg->noise.skew_max_ns ||
        cfg->noise.warmup_min > cfg->noise.warmup_max)
        return fail_msg(err, errlen, "noise skew_min_ns / warmup_min above their maximum");
    if (cfg->nfaults < 0 || cfg->nfaults > SIM_MAX_FAULTS)
        return fail_msg(err, errlen, "nfaults %d not in [0, %d]", cfg->nfaults, SIM_MAX_FAULTS);
    for (int i = 0; i < cfg->nfaults; i++)
        if (check_fault(cfg, i, err, errlen)) return -1;
    return 0;
}
