/* fuzz_fault.c - libFuzzer target: dxt-synth's fault-spec parser
 * (sim_fault_parse, samples/sim_fault.c) and the config check that follows it.
 * Owner: reliability (tests/fuzz/). Corpus: tests/fuzz/corpus/fault/.
 *
 * Input: the first byte picks the world size and ranks per node (so rank and
 * node ranges are exercised), the rest is the spec as typed after --fault. A
 * spec that parses must pass or fail sim_config_check with a message; a spec
 * that fails must say why. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "sim.h"

static const char *const op_names[] = {"dispatch", "combine"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    int world = 1 + data[0] % 64, per_node = 1 + (data[0] >> 6) * 4;
    char *spec = malloc(size);
    if (!spec)
        return 0;
    memcpy(spec, data + 1, size - 1);
    spec[size - 1] = '\0';
    sim_fault fault;
    char err[256] = "";
    if (sim_fault_parse(spec, op_names, 2, per_node, &fault, err, sizeof err) == 0) {
        sim_config cfg;
        sim_config_init(&cfg);
        cfg.world = world;
        cfg.per_node = per_node;
        cfg.nops = 2;
        cfg.steps = 100;
        cfg.faults[0] = fault;
        cfg.nfaults = 1;
        err[0] = '\0';
        if (sim_config_check(&cfg, err, sizeof err) != 0 && err[0] == '\0')
            abort();
        (void)sim_kind_str(fault.kind);
    } else if (err[0] == '\0') {
        abort();
    }
    free(spec);
    return 0;
}
