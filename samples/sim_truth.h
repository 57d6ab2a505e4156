/* sim_truth.h - dxt-synth's options and its truth.json writer (sim_truth.c).
 * Owner: the simulator engineer (samples/sim*.c, tools/dxt-synth.c). */
#ifndef DXT_SIM_TRUTH_H
#define DXT_SIM_TRUTH_H

#include <stddef.h>
#include <stdint.h>

#include "dxtrec.h"
#include "sim.h"

typedef struct synth_opts {
    sim_config sim;
    const char *out;          /* trace directory */
    const char *run_id;
    char run_id_buf[64];
    dxtrec_unit unit;
    dxtrec_counting counting;
    double rate;              /* steps per second; 0: as fast as possible */
    int tokens;               /* 1: record the tokens dataset */
    int64_t reset_at;         /* -1: never */
    int64_t gap_every;        /* 0: no gaps */
    double drop_prob;         /* per rank and 8-step block: rows not recorded (0: none) */
    int block;                /* ranks simulated and written at a time (0: auto) */
    int jobs;                 /* processes simulating blocks at once (0: auto) */
    int ring;                 /* recorder ring capacity */
    double flush_s;
    int compress_level;       /* shuffle+deflate level of the files, 0: none */
    int quiet;
    const char *fault_specs[SIM_MAX_FAULTS];
} synth_opts;

/* Write <out>/truth.json: the config, the faults and the expected findings.
 * Returns 0, or -1 with the reason (naming the file) in err. */
int synth_write_truth(const synth_opts *o, const sim *model, const char *const *op_names,
                      int nops, char *err, size_t errlen);

#endif
