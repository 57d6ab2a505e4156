/* analyze_mpi.h - dxt-analyze under mpirun (`mpirun -n P dxt-analyze TRACE`): the
 * MPI glue that gives libdxtanalysis its partition (dxt_partition, dxtanalysis.h).
 * Built with OpenMPI where the Makefile finds it (DXT_HAVE_MPI); MPI starts only
 * when mpirun launched the process, so a plain dxt-analyze never starts it.
 * Owner: the parallel-analysis engineer (issue 15). */
#ifndef DXT_ANALYZE_MPI_H
#define DXT_ANALYZE_MPI_H

#include "dxtanalysis.h"

/* Fill p: this process of those mpirun started (count 1, index 0 when alone),
 * the hooks over MPI_COMM_WORLD. Processes other than 0 then write nothing
 * (stdout and stderr to /dev/null): process 0 speaks for all. Returns 0; 1 for
 * a process other than 0 when dxt-analyze was built without MPI (process 0
 * then analyzes alone, the others end at once with 0). */
int dxt_mpi_start(int *argc, char ***argv, dxt_partition *p);

/* Process 0's exit code rc, on every process (they exit alike); MPI ends. */
int dxt_mpi_end(const dxt_partition *p, int rc);

#endif
