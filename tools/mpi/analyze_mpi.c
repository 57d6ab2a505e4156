/* analyze_mpi.c - the MPI glue of dxt-analyze (analyze_mpi.h): whether mpirun
 * launched this process, MPI_Init, the host's cores shared by its processes'
 * decoding threads (DXT_THREADS), the partition's three exchanges over
 * MPI_COMM_WORLD (allgather, gather of row blocks to process 0, broadcast), and
 * the exit code agreed at the end. MPI's default error handler stays: an
 * exchange that fails ends every process (mpirun), none is left waiting.
 * Owner: the parallel-analysis engineer (issue 15). */
#include "analyze_mpi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef DXT_HAVE_MPI
#include <mpi.h>
#endif

/* The environment mpirun (OpenMPI's, or any PMIx launcher) gives its processes. */
static const char *launcher_rank(void)
{
    const char *rank = getenv("OMPI_COMM_WORLD_RANK");
    return rank ? rank : getenv("PMIX_RANK");
}

static void silence(void)
{
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
        return; /* nothing more to do: they write nothing anyway */
}

#ifdef DXT_HAVE_MPI
static int started;

/* Wait for r without holding a core: OpenMPI's blocking calls poll, and a process
 * that waits here waits for process 0 (taking a window; at the end classifying,
 * writing the report, gnuplot), which needs the core on a busy machine. Tests a
 * hundred times, then sleeps 20 us doubling to max_ns between tests (each test
 * runs MPI's progress: on a loaded machine, a wait of seconds polled every 160 us
 * cost a process a tenth of its CPU). Only the small exchanges wait so: the
 * gathers of row blocks need both sides polling to move. */
#define ROUND_NAP_NS 160000L  /* a round's exchange: process 0 is a window behind */
#define END_NAP_NS 5000000L   /* the end: process 0 classifies and reports */
static int wait_politely(MPI_Request *r, long max_ns)
{
    long ns = 20000;
    for (int k = 0;; k++) {
        int done = 0;
        if (MPI_Test(r, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return -1;
        if (done)
            return 0;
        if (k < 100)
            continue;
        struct timespec nap = {0, ns};
        nanosleep(&nap, NULL);
        ns = ns < max_ns ? 2 * ns : max_ns;
    }
}

static int mpi_allgather(void *user, const int64_t *mine, int nvals, int64_t *all)
{
    (void)user;
    MPI_Request r;
    return MPI_Iallgather(mine, nvals, MPI_INT64_T, all, nvals, MPI_INT64_T, MPI_COMM_WORLD,
                          &r) == MPI_SUCCESS ? wait_politely(&r, ROUND_NAP_NS) : -1;
}

static int mpi_gather_rows(void *user, void *buf, size_t row_bytes, const int *first,
                           const int *rows)
{
    const dxt_partition *p = user;
    MPI_Datatype row;
    if (row_bytes > INT_MAX || MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &row) != MPI_SUCCESS)
        return -1;
    int rc = MPI_Type_commit(&row);
    if (rc == MPI_SUCCESS && p->index == 0)
        rc = MPI_Gatherv(MPI_IN_PLACE, 0, row, buf, rows, first, row, 0, MPI_COMM_WORLD);
    else if (rc == MPI_SUCCESS)
        rc = MPI_Gatherv((char *)buf + (size_t)first[p->index] * row_bytes, rows[p->index], row,
                         NULL, NULL, NULL, row, 0, MPI_COMM_WORLD);
    MPI_Type_free(&row);
    return rc == MPI_SUCCESS ? 0 : -1;
}

static int mpi_bcast(void *user, void *buf, size_t bytes, int from)
{
    (void)user;
    return bytes <= INT_MAX &&
           MPI_Bcast(buf, (int)bytes, MPI_BYTE, from, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}
#endif

#ifdef DXT_HAVE_MPI
/* The processes of this run on this host share its cores: unless DXT_THREADS says,
 * each decodes chunks in online CPUs / local processes threads (at least 1), not in
 * as many threads as the host has cores (P x cores threads in all). Process 0 keeps
 * two at least: with more than one, it classifies an op while the next is read. */
static void share_cores(int index)
{
    MPI_Comm local;
    int size = 1;
    const char *set = getenv("DXT_THREADS");
    if ((set && *set) ||
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) !=
            MPI_SUCCESS)
        return;
    MPI_Comm_size(local, &size);
    MPI_Comm_free(&local);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN), least = index == 0 ? 2 : 1;
    char threads[24];
    snprintf(threads, sizeof threads, "%ld", cpus / size > least ? cpus / size : least);
    setenv("DXT_THREADS", threads, 1);
}
#endif

int dxt_mpi_start(int *argc, char ***argv, dxt_partition *p)
{
    *p = (dxt_partition){0, 1, p, NULL, NULL, NULL};
    const char *rank = launcher_rank();
    if (!rank)
        return 0; /* not launched by mpirun: no MPI */
#ifdef DXT_HAVE_MPI
    int index = 0, count = 1;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) /* the default handler ends it first */
        return 0;
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &index);
    MPI_Comm_size(MPI_COMM_WORLD, &count);
    if (count > 1)
        share_cores(index);
    *p = (dxt_partition){index, count, p, mpi_allgather, mpi_gather_rows, mpi_bcast};
    if (index != 0)
        silence();
    return 0;
#else
    (void)argc;
    (void)argv;
    if (atoi(rank) == 0) {
        fprintf(stderr, "dxt-analyze: built without MPI: process 0 analyzes alone\n");
        return 0;
    }
    silence();
    return 1;
#endif
}

int dxt_mpi_end(const dxt_partition *p, int rc)
{
    (void)p;
#ifdef DXT_HAVE_MPI
    MPI_Request r;
    if (started) { /* the others wait while process 0 writes the report */
        if (MPI_Ibcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD, &r) == MPI_SUCCESS)
            (void)wait_politely(&r, END_NAP_NS);
        MPI_Finalize();
    }
#endif
    return rc;
}
