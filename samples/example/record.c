/* record.c - the smallest job that records a trace with libdxtrec, using
 * only the public header. Build against an installed dxtrace:
 *   cc record.c $(pkg-config --cflags --libs dxtrec) -o record && ./record trace */
#include <dxtrec.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    const char *ops[] = {"dispatch", "combine"};
    dxtrec_config cfg;
    dxtrec_config_init(&cfg);
    cfg.dir = argc > 1 ? argv[1] : "trace";
    cfg.rank = 0, cfg.world_size = 4, cfg.run_id = "example", cfg.ops = ops, cfg.nops = 2;
    dxtrec_t *rec;
    if (dxtrec_open(&cfg, &rec) != DXTREC_SUCCESS && !rec)
        return 1;
    int64_t wait[4] = {0, 0, 0, 0}; /* cumulative, as DeepEP's stats tensors */
    for (int64_t step = 0; step < 100; step++) {
        for (int j = 0; j < 4; j++)
            wait[j] += 1000 + 100 * j;
        dxtrec_record(rec, 0, step, wait, NULL);
        dxtrec_record(rec, 1, step, wait, NULL);
    }
    dxtrecResult_t rc = dxtrec_close(rec);
    printf("%s\n", dxtrec_result_string(rc));
    return rc == DXTREC_SUCCESS ? 0 : 1;
}
