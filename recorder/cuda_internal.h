/* cuda_internal.h - what libdxtrec's two CUDA files share: dxtrec_cuda.c (the
 * device state, record_device's copy pool, clock calibration, the writer's
 * poll) and steps_cuda.c (attach + step_device: the capture-safe step ring).
 * Only *_cuda.c files include it (they get the CUDA include path). Not installed.
 *
 * Owner: the GPU side of dxtrace. */
#ifndef DXTREC_CUDA_INTERNAL_H
#define DXTREC_CUDA_INTERNAL_H

#include <cuda_runtime_api.h>

#include "internal.h"

typedef struct dxtrec_steps dxtrec_steps; /* steps_cuda.c */

/* ---- dxtrec_cuda.c, for steps_cuda.c ---- */

/* Keep a CUDA error as the recorder's last error and print it once. */
void dxtrec_cuda_report(dxtrec_t *rec, const char *what, cudaError_t e);

/* The device state's common set-up on the caller's current device, once per
 * recorder (later calls return what the first did): the device the writer
 * binds to, the clock calibration. 0, or -1 when there is no device. */
int dxtrec_cuda_start(dxtrec_t *rec);

/* The step ring, NULL before the first attach (acquire); install one (the
 * writer polls it from then on; only once: -1 when one is installed). */
dxtrec_steps *dxtrec_cuda_steps(dxtrec_t *rec);
int dxtrec_cuda_install_steps(dxtrec_t *rec, dxtrec_steps *steps);

/* ---- steps_cuda.c, for dxtrec_cuda.c ---- */

/* Writer thread, every loop (no CUDA call but the clock offset's, every few
 * seconds): push the finished slots' rows into the ring, count the steps the
 * kernel dropped. Returns the steps still to come (launched but not yet run,
 * or not yet drained). */
int dxtrec_steps_poll(dxtrec_t *rec, dxtrec_steps *steps, double clock_hz);

/* Writer thread, after its last poll: count what never arrived (and the
 * drops its polls have not seen) as dropped, once. */
void dxtrec_steps_finish(dxtrec_t *rec, dxtrec_steps *steps);

/* After the writer stopped: finish if the writer did not, free. */
void dxtrec_steps_free(dxtrec_t *rec, dxtrec_steps *steps);

#endif
