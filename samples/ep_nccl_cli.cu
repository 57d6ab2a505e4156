/* ep_nccl_cli.cu - dxt-ep-nccl's command line, its launcher and the
 * ncclUniqueId rendezvous (samples/ep_nccl.h; the rank itself is
 * samples/ep_nccl.cu). Host code only.
 *
 * Owner: the multi-GPU (NCCL) side of dxtrace.
 *
 * Two ways to start a job, one process per GPU:
 *   - launcher: `dxt-ep-nccl --nranks K ...` forks K ranks (rank r on GPU r);
 *     rank 0 makes the ncclUniqueId and writes it into one pipe per other
 *     rank. The parent never touches CUDA; it waits for the ranks, and when one
 *     fails (or --timeout-s passes) it stops the others, by their pids.
 *   - one process per rank from mpirun / srun / a script: `--id-file PATH`
 *     (fresh per job, on a file system every rank sees); rank and size come
 *     from --rank/--nranks or from OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK},
 *     PMI_RANK/PMI_SIZE/MPI_LOCALRANKID or SLURM_{PROCID,NTASKS,LOCALID}.
 *     Rank 0 writes the id to PATH.tmp and renames it to PATH. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ep_nccl.h"

/* ---- the ncclUniqueId rendezvous ---- */

static int en_write_all(int fd, const void *buf, size_t len)
{
    const char *p = (const char *)buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int en_read_all(int fd, void *buf, size_t len)
{
    char *p = (char *)buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int en_publish_id_file(const char *path, const ncclUniqueId *id)
{
    char tmp[4096];
    int fd, rc = -1;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        goto fail;
    rc = en_write_all(fd, id, sizeof(*id));
    if (close(fd) || rc || rename(tmp, path))
        rc = -1;
fail:
    if (rc)
        fprintf(stderr, EN_NAME ": rank 0: cannot write the id file %s: %s\n", path,
                strerror(errno));
    return rc;
}

/* Wait (up to timeout_s) for rank 0's id file and read it. */
static int en_wait_id_file(const char *path, int timeout_s, ncclUniqueId *id)
{
    struct timespec pause = {0, 20 * 1000 * 1000};
    for (long waited_ms = 0; waited_ms <= (long)timeout_s * 1000; waited_ms += 20) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            struct stat st;
            int rc = (fstat(fd, &st) == 0 && st.st_size == (off_t)sizeof(*id))
                         ? en_read_all(fd, id, sizeof(*id)) : -1;
            close(fd);
            if (rc == 0)
                return 0;
        }
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, EN_NAME ": no ncclUniqueId in %s after %d s (is rank 0 running?)\n", path,
            timeout_s);
    return -1;
}

int en_rendezvous_id(int rank, const en_rendezvous *rv, ncclUniqueId *id)
{
    if (rank != 0) {
        if (rv->read_fd >= 0) {
            int rc = en_read_all(rv->read_fd, id, sizeof(*id));
            close(rv->read_fd);
            if (rc)
                fprintf(stderr, EN_NAME ": rank %d: no ncclUniqueId from rank 0\n", rank);
            return rc;
        }
        return en_wait_id_file(rv->id_file, rv->timeout_s, id);
    }
    ncclResult_t res = ncclGetUniqueId(id);
    if (res != ncclSuccess) {
        fprintf(stderr, EN_NAME ": rank 0: ncclGetUniqueId: %s\n", ncclGetErrorString(res));
        return -1;
    }
    for (int i = 0; i < rv->nwrite; ++i) {
        int rc = en_write_all(rv->write_fds[i], id, sizeof(*id));
        close(rv->write_fds[i]);
        if (rc) {
            fprintf(stderr, EN_NAME ": rank 0: cannot pass the ncclUniqueId on\n");
            return -1;
        }
    }
    return rv->id_file ? en_publish_id_file(rv->id_file, id) : 0;
}

/* ---- the launcher ---- */

static volatile sig_atomic_t en_timed_out;

static void en_on_alarm(int sig)
{
    (void)sig;
    en_timed_out = 1;
}

/* The body of the child of rank r: keeps only its own end of the pipes. */
static int en_child(const en_opts *o, int r, int (*pipes)[2], pid_t launcher)
{
    int write_fds[EN_MAX_RANKS];
    en_rendezvous rv = {-1, write_fds, 0, NULL, o->timeout_s};
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != launcher)
        return 1; /* the launcher is gone: no rank may spin on alone */
    for (int i = 1; i < o->K; ++i) {
        if (r == 0)
            write_fds[rv.nwrite++] = pipes[i][1];
        else
            close(pipes[i][1]);
        if (i == r)
            rv.read_fd = pipes[i][0];
        else
            close(pipes[i][0]);
    }
    int rc = en_rank_main(o, r, &rv) ? 1 : 0;
    fflush(NULL); /* the child leaves through _exit */
    return rc;
}

static void en_stop_ranks(const pid_t *pids, int K, int sig)
{
    for (int r = 0; r < K; ++r)
        if (pids[r] > 0)
            kill(pids[r], sig);
}

/* Wait for every rank; the first failure (or the timeout) stops the others. */
static int en_wait_ranks(const en_opts *o, pid_t *pids)
{
    int failed = 0, left = o->K;
    while (left > 0) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR && en_timed_out) {
            fprintf(stderr, EN_NAME ": timeout after %d s: stopping the ranks\n", o->timeout_s);
            en_stop_ranks(pids, o->K, SIGKILL);
            en_timed_out = 0;
            failed = 1;
            continue;
        }
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0)
            break;
        for (int r = 0; r < o->K; ++r)
            if (pids[r] == pid) {
                pids[r] = 0;
                left--;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                    fprintf(stderr, EN_NAME ": rank %d failed (%s %d)%s\n", r,
                            WIFEXITED(status) ? "exit" : "signal",
                            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                            failed ? "" : ": stopping the others");
                    if (!failed)
                        en_stop_ranks(pids, o->K, SIGTERM);
                    failed = 1;
                }
            }
    }
    return failed ? 1 : 0;
}

int en_launch(const en_opts *o)
{
    int pipes[EN_MAX_RANKS][2];
    pid_t pids[EN_MAX_RANKS];
    struct sigaction sa;
    const pid_t launcher = getpid();
    int rc = 1, made = 0;
    memset(pids, 0, sizeof(pids));
    for (made = 1; made < o->K; ++made)
        if (pipe(pipes[made])) {
            perror(EN_NAME ": pipe");
            goto close_pipes;
        }
    fflush(stdout);
    fflush(stderr);
    for (int r = 0; r < o->K; ++r) {
        pids[r] = fork();
        if (pids[r] == 0)
            _exit(en_child(o, r, pipes, launcher));
        if (pids[r] < 0) {
            perror(EN_NAME ": fork");
            pids[r] = 0;
            en_stop_ranks(pids, o->K, SIGKILL);
            break;
        }
    }
    for (int i = 1; i < made; ++i) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
    made = 0;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = en_on_alarm; /* no SA_RESTART: waitpid returns EINTR */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) == 0 && o->timeout_s > 0)
        alarm((unsigned)o->timeout_s);
    rc = en_wait_ranks(o, pids);
    alarm(0);
close_pipes:
    for (int i = 1; i < made; ++i) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
    return rc;
}

/* ---- the command line ---- */

static void en_usage(FILE *f)
{
    fprintf(f,
            "usage: " EN_NAME " [options]      (one process per GPU, NCCL >= 2.28 device API)\n"
            "  -n, --nranks K           ranks = GPUs (1..%d, default 2); forks K processes\n"
            "      --rank R             run rank R only (mpirun/srun; with --id-file)\n"
            "      --local-rank L       GPU of this rank (default: from the environment, or R)\n"
            "      --id-file PATH       ncclUniqueId rendezvous file (fresh per job)\n"
            "  -s, --steps S            steps (default 500)\n"
            "  -o, --out DIR            record every rank into the trace directory DIR\n"
            "      --run-id ID          run_id of the trace (default ep-nccl)\n"
            "      --truth FILE         rank 0 writes what was injected as JSON\n"
            "      --tokens T           tokens per rank (default 128, at most %d)\n"
            "      --topk K             experts per token (default 8, at most %d)\n"
            "      --experts-per-rank E (default 2)\n"
            "      --hidden-bytes B     bytes per token, a multiple of 16 (default 256)\n"
            "      --compute-ns NS      compute before each op (default 5000)\n"
            "      --jitter F           compute jitter, fraction (default 0.05)\n"
            "      --seed N\n"
            "      --slow-rank R        rank R sends late (delay before its sends)\n"
            "      --slow-dest R        rank R receives slowly (delay in its receive path)\n"
            "      --slow-path S:D      the transfer S -> D is late\n"
            "      --delay-ns NS        injected delay (default 20000)\n"
            "      --onset STEP         first faulty step (default 0)\n"
            "      --fault-op OP        dispatch, combine or both (default both)\n"
            "      --no-barrier         no LSA barrier before each op (ranks drift apart)\n"
            "      --bench              step time with recording off vs on\n"
            "      --bench-steps N      steps per timed block (default 400)\n"
            "      --bench-reps N       blocks per mode (default 7, at most 64)\n"
            "      --timeout-s N        launcher: stop every rank after N s (default 300)\n"
            "      --share-gpu          put every rank on GPU 0 (NCCL refuses: for checks)\n"
            "  -h, --help\n",
            EN_MAX_RANKS, EN_MAX_TOKENS, EN_MAX_TOPK);
}

static void en_opts_init(en_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->K = 2;
    o->steps = 500;
    o->T = 128;
    o->topk = 8;
    o->experts_per_rank = 2;
    o->hidden_bytes = 256;
    o->compute_ns = 5000;
    o->jitter = 0.05f;
    o->seed = 1;
    o->delay_ns = 20000;
    o->fault_op = -1;
    o->run_id = "ep-nccl";
    o->rank = -1;
    o->local_rank = -1;
    o->barrier = 1;
    o->bench_steps = 400;
    o->bench_reps = 7;
    o->timeout_s = 300;
}

static int en_opts_check(const en_opts *o)
{
    const char *bad = NULL;
    if (o->K < 1 || o->K > EN_MAX_RANKS || o->rank >= o->K || o->rank < -1)
        bad = "--nranks or --rank";
    else if (o->steps < 1 || o->T < 1 || o->T > EN_MAX_TOKENS)
        bad = "--steps or --tokens";
    else if (o->topk < 1 || o->topk > EN_MAX_TOPK || o->experts_per_rank < 1 ||
             o->hidden_bytes < 16 || o->hidden_bytes % 16 || o->hidden_bytes > (1 << 20))
        bad = "--topk, --experts-per-rank or --hidden-bytes";
    else if (o->compute_ns < 0 || o->delay_ns < 0 || o->jitter < 0 || o->jitter >= 1 ||
             o->onset < 0)
        bad = "--compute-ns, --delay-ns, --jitter or --onset";
    else if ((o->fault == EN_FAULT_SLOW_RANK || o->fault == EN_FAULT_SLOW_DEST) &&
             o->fault_rank >= o->K)
        bad = "a fault's rank";
    else if (o->fault == EN_FAULT_SLOW_PATH &&
             (o->path_src >= o->K || o->path_dst >= o->K || o->path_src == o->path_dst))
        bad = "--slow-path (S:D, two different ranks below K)";
    else if (o->bench_reps < 1 || o->bench_reps > 64 || o->bench_steps < 1 || o->timeout_s < 1)
        bad = "--bench-steps, --bench-reps or --timeout-s";
    else if (o->rank >= 0 && !o->id_file)
        bad = "--rank without --id-file";
    if (bad)
        fprintf(stderr, EN_NAME ": bad value of %s\n", bad);
    return bad ? -1 : 0;
}

enum { O_RUN_ID = 256, O_TRUTH, O_TOKENS, O_TOPK, O_EPR, O_HIDDEN, O_COMPUTE, O_JITTER, O_SEED,
       O_SLOW_RANK, O_SLOW_DEST, O_SLOW_PATH, O_DELAY, O_ONSET, O_FAULT_OP, O_BENCH,
       O_BENCH_STEPS, O_BENCH_REPS, O_RANK, O_LOCAL_RANK, O_ID_FILE, O_NO_BARRIER, O_TIMEOUT,
       O_SHARE_GPU };

static const struct option en_long_opts[] = {
    {"nranks", required_argument, 0, 'n'},        {"ranks", required_argument, 0, 'n'},
    {"steps", required_argument, 0, 's'},         {"out", required_argument, 0, 'o'},
    {"run-id", required_argument, 0, O_RUN_ID},   {"truth", required_argument, 0, O_TRUTH},
    {"tokens", required_argument, 0, O_TOKENS},   {"topk", required_argument, 0, O_TOPK},
    {"experts-per-rank", required_argument, 0, O_EPR},
    {"hidden-bytes", required_argument, 0, O_HIDDEN},
    {"compute-ns", required_argument, 0, O_COMPUTE},
    {"jitter", required_argument, 0, O_JITTER},   {"seed", required_argument, 0, O_SEED},
    {"slow-rank", required_argument, 0, O_SLOW_RANK},
    {"slow-dest", required_argument, 0, O_SLOW_DEST},
    {"slow-path", required_argument, 0, O_SLOW_PATH},
    {"delay-ns", required_argument, 0, O_DELAY},  {"onset", required_argument, 0, O_ONSET},
    {"fault-op", required_argument, 0, O_FAULT_OP}, {"bench", no_argument, 0, O_BENCH},
    {"bench-steps", required_argument, 0, O_BENCH_STEPS},
    {"bench-reps", required_argument, 0, O_BENCH_REPS},
    {"rank", required_argument, 0, O_RANK},       {"local-rank", required_argument, 0, O_LOCAL_RANK},
    {"id-file", required_argument, 0, O_ID_FILE}, {"no-barrier", no_argument, 0, O_NO_BARRIER},
    {"timeout-s", required_argument, 0, O_TIMEOUT},
    {"share-gpu", no_argument, 0, O_SHARE_GPU},   {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

/* Parse a whole decimal number into *out; -1 on anything else. */
static int en_parse_i64(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!s[0] || *end || errno)
        return -1;
    *out = v;
    return 0;
}

static int en_parse_fault(en_opts *o, int c, const char *arg)
{
    int64_t v = 0;
    int s = -1, d = -1, used = 0;
    switch (c) {
    case O_SLOW_RANK:
    case O_SLOW_DEST:
        o->fault = c == O_SLOW_RANK ? EN_FAULT_SLOW_RANK : EN_FAULT_SLOW_DEST;
        if (en_parse_i64(arg, &v) || v < 0 || v >= EN_MAX_RANKS)
            return -1;
        o->fault_rank = (int)v;
        return 0;
    case O_SLOW_PATH:
        if (sscanf(arg, "%d:%d%n", &s, &d, &used) != 2 || arg[used] || s < 0 || d < 0)
            return -1;
        o->fault = EN_FAULT_SLOW_PATH;
        o->path_src = s;
        o->path_dst = d;
        return 0;
    default: /* O_FAULT_OP: an op name or both */
        used = strcmp(arg, "both") ? -2 : -1;
        for (int op = 0; op < EN_NOPS; ++op)
            if (!strcmp(arg, en_op_names[op]))
                used = op;
        if (used == -2)
            return -1;
        o->fault_op = used;
        return 0;
    }
}

/* Store an integer-valued option; 0 if c is one, 1 if it is not. */
static int en_store_int(en_opts *o, int c, int64_t v)
{
    int iv = (v > 1 << 30 || v < -(1 << 30)) ? -2 : (int)v; /* out of range: refused later */
    switch (c) {
    case 's': o->steps = v; break;
    case O_COMPUTE: o->compute_ns = v; break;
    case O_DELAY: o->delay_ns = v; break;
    case O_ONSET: o->onset = v; break;
    case O_SEED: o->seed = (uint64_t)v; break;
    case 'n': o->K = iv; break;
    case O_TOKENS: o->T = iv; break;
    case O_TOPK: o->topk = iv; break;
    case O_EPR: o->experts_per_rank = iv; break;
    case O_HIDDEN: o->hidden_bytes = iv; break;
    case O_BENCH_STEPS: o->bench_steps = iv; break;
    case O_BENCH_REPS: o->bench_reps = iv; break;
    case O_RANK: o->rank = iv; break;
    case O_LOCAL_RANK: o->local_rank = iv; break;
    case O_TIMEOUT: o->timeout_s = iv; break;
    default: return 1;
    }
    return 0;
}

static int en_is_int_opt(int c)
{
    en_opts scratch;
    en_opts_init(&scratch);
    return en_store_int(&scratch, c, 0) == 0;
}

/* First of the variables that is set, as an int; -1 if none. */
static int en_env_int(const char *const *names)
{
    for (; *names; ++names) {
        const char *s = getenv(*names);
        int64_t v = 0;
        if (s && en_parse_i64(s, &v) == 0 && v >= 0 && v < (1 << 30))
            return (int)v;
    }
    return -1;
}

/* Started by mpirun/srun (one process per rank): rank, size, local rank from
 * the environment where the command line does not give them. */
static int en_opts_from_env(en_opts *o, int nranks_given)
{
    static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID", 0};
    static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS", 0};
    static const char *const local_vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                             "SLURM_LOCALID", 0};
    int rank = en_env_int(rank_vars), size = en_env_int(size_vars);
    if (o->rank >= 0 || rank < 0 || size < 1)
        return 0;
    if (!o->id_file) {
        fprintf(stderr, EN_NAME ": started as rank %d of %d by mpirun/srun: give --id-file PATH "
                "(fresh per job, on a file system every rank sees)\n", rank, size);
        return -1;
    }
    if (nranks_given && o->K != size) {
        fprintf(stderr, EN_NAME ": --nranks %d but the launcher started %d ranks\n", o->K, size);
        return -1;
    }
    o->rank = rank;
    o->K = size;
    if (o->local_rank < 0)
        o->local_rank = en_env_int(local_vars);
    return 0;
}

/* 0: run, 1: help printed, -1: bad command line. */
int en_parse_opts(int argc, char **argv, en_opts *o)
{
    int c, nranks_given = 0;
    en_opts_init(o);
    while ((c = getopt_long(argc, argv, "n:s:o:h", en_long_opts, NULL)) != -1) {
        int64_t v = 0;
        if (en_is_int_opt(c)) {
            if (en_parse_i64(optarg, &v)) {
                fprintf(stderr, EN_NAME ": not a whole number: %s\n", optarg);
                return -1;
            }
            en_store_int(o, c, v);
            nranks_given |= c == 'n';
            continue;
        }
        switch (c) {
        case 'o': o->out_dir = optarg; break;
        case O_RUN_ID: o->run_id = optarg; break;
        case O_TRUTH: o->truth = optarg; break;
        case O_ID_FILE: o->id_file = optarg; break;
        case O_JITTER: o->jitter = strtof(optarg, NULL); break;
        case O_BENCH: o->bench = 1; break;
        case O_NO_BARRIER: o->barrier = 0; break;
        case O_SHARE_GPU: o->share_gpu = 1; break;
        case O_SLOW_RANK: case O_SLOW_DEST: case O_SLOW_PATH: case O_FAULT_OP:
            if (en_parse_fault(o, c, optarg)) {
                fprintf(stderr, EN_NAME ": bad fault argument: %s\n", optarg);
                return -1;
            }
            break;
        case 'h': en_usage(stdout); return 1;
        default: en_usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, EN_NAME ": unexpected argument: %s\n", argv[optind]);
        return -1;
    }
    if (en_opts_from_env(o, nranks_given))
        return -1;
    return en_opts_check(o);
}
