/* dxt-analyze.c - dxt-analyze's command line: options, loading the input, running
 * the analysis, printing the report (text, JSON or CSV, to stdout or -o FILE),
 * progress on a terminal; exit codes. --follow: the polling loop over the follow
 * API (dxtanalysis.h), its messages and signals; the final report as above.
 * Owner: the loader/report engineer (A2). The plots engineer adds --plots,
 * --show, --plot-window, --log-color in the marked places (the analysis
 * results: dxt_analysis in analysis.h, one dxt_op_result per op). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis_plots.h"
#include "dxt_format.h"
#include "dxtanalysis.h"
#include "mpi/analyze_mpi.h"

/* Exit codes, documented in --help. */
#define DXT_EXIT_CODES(X)                                                          \
    X(EXIT_ANALYZED, 0, "the analysis ran (with or without findings; --follow: it ended, report written)") \
    X(EXIT_NO_INPUT, 1, "no usable input (unreadable, no valid file, mixed runs, unknown op, empty step range; --follow: none when it ended)") \
    X(EXIT_USAGE, 2, "bad command line")                                            \
    X(EXIT_FAILED, 3, "the analysis failed midway (read error, out of memory, output error)") \
    X(EXIT_PLOTS, 4, "the report was written but a picture was not (--plots, --show: gnuplot missing or failed)")

enum {
#define EXIT_ENUM(id, code, what) id = code,
    DXT_EXIT_CODES(EXIT_ENUM)
#undef EXIT_ENUM
};

typedef enum { REPORT_TEXT, REPORT_JSON, REPORT_CSV } report_format;

typedef struct cli {
    const char *trace;
    report_format format;
    int quiet, matrices;
    int follow;              /* --follow: read the trace while it is written */
    double interval;         /* --interval: seconds between polls */
    const char *output;      /* -o FILE; NULL: stdout */
    dxt_input_opts input;
    dxt_analysis_opts analysis;
    dxt_plots_request plots; /* --plots, --show, --plot-window, --log-color (plots/) */
} cli;

enum { OPT_FORMAT = 256, OPT_WINDOW, OPT_FROM, OPT_TO, OPT_OP, OPT_RUN, OPT_PER_NODE,
       OPT_MIN_SEVERITY, OPT_MIN_SCORE, OPT_VERBOSE,
       OPT_PLOTS, OPT_SHOW, OPT_PLOT_WINDOW, OPT_LOG_COLOR, OPT_ABS_COLOR, OPT_COLOR,
       OPT_PALETTE, OPT_MATRICES, OPT_UNIT, OPT_VERSION, OPT_FOLLOW, OPT_INTERVAL,
       OPT_TEST_WINDOW };

static const struct option long_options[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"test-window", required_argument, NULL, OPT_TEST_WINDOW},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"op", required_argument, NULL, OPT_OP},
    {"run", required_argument, NULL, OPT_RUN},
    {"per-node", required_argument, NULL, OPT_PER_NODE},
    {"min-severity", required_argument, NULL, OPT_MIN_SEVERITY},
    {"min-score", required_argument, NULL, OPT_MIN_SCORE},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"plots", required_argument, NULL, OPT_PLOTS},
    {"show", no_argument, NULL, OPT_SHOW},
    {"plot-window", required_argument, NULL, OPT_PLOT_WINDOW},
    {"log-color", no_argument, NULL, OPT_LOG_COLOR},
    {"abs-color", no_argument, NULL, OPT_ABS_COLOR},
    {"color", required_argument, NULL, OPT_COLOR},
    {"palette", required_argument, NULL, OPT_PALETTE},
    {"matrices", no_argument, NULL, OPT_MATRICES},
    {"unit", required_argument, NULL, OPT_UNIT},
    {"output", required_argument, NULL, 'o'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *out)
{
    fprintf(out,
"usage: dxt-analyze TRACE [options]\n"
"Find the slow rank, slow receiver, slow link or slow node of an expert-parallel job.\n"
"TRACE is a trace directory (one HDF5 file per rank, written by libdxtrec), a\n"
"DeepXTrace diagnose log (lines 'rank=i [v v ...]'; each block of N rows is one\n"
"window) or a plain text matrix (N lines of N numbers; several may follow).\n"
"M[i][j] is the wait of rank i for rank j.\n\n"
"  --format text|json|csv   report for people (default), JSON (report format v1,\n"
"                       docs/report.schema.json) or CSV (one finding per line)\n"
"  --matrices           with --format csv: the per-window matrices instead, one line\n"
"                       per cell: op,first_step,last_step,i,j,wait_per_step\n"
"  -o, --output FILE    write the report to FILE instead of stdout\n"
"  --window STEPS       steps summed per window (default: 1, 2, 5 x 10^k steps,\n"
"                       the smallest giving at most 100 windows, and not shorter\n"
"                       than the steps between a rank's rows). The tests run in\n"
"                       two sizes (a short fault shows in short windows, a weak\n"
"                       long one in long): the default and STEPS where longer,\n"
"                       else the default and the same ladder's at most 20 windows\n"
"  --test-window STEPS  the tests' short windows (default: the default window);\n"
"                       given, the long ones are --window's alone, where longer:\n"
"                       --window's own value (or more) tests in those windows alone\n"
"                       (faster at long windows; short faults missed). --follow's\n"
"                       polls test in its --window\n"
"  --from STEP, --to STEP   analyze only these steps\n"
"  --op NAME            analyze this op (repeatable; default: every op)\n"
"  --run ID             the run to analyze when the directory holds several; for a\n"
"                       text matrix or DeepXTrace log, its run id (default: file name)\n"
"  --unit UNIT          the unit of a text matrix or DeepXTrace log (default cycles)\n"
"  --per-node R         ranks per node when the input names no nodes (default 8;\n"
"                       one node when N is not a multiple of R or N <= R)\n"
"  --min-severity X, --min-score Z   classifier thresholds (see classify.h)\n"
"  --verbose            the classifier's reasoning per window, on stderr\n"
"  --plots DIR          write PNGs (gnuplot): per op a heatmap (the overview), a\n"
"                       zoomed panel per finding, a timeline\n"
"  --plot-window A:B    the heatmap of steps A..B instead of the analyzed range\n"
"  --abs-color          color by the wait itself (default: by the wait over the\n"
"                       typical wait of its kind, intra- or inter-node, 1x-4x)\n"
"  --log-color          with --abs-color: a logarithmic color scale\n"
"  --palette NAME       heat (default; color-blind safe) or deepxtrace (green-yellow-red)\n"
"  --show               draw each op's heatmap in the terminal, fitted to its size\n"
"  --color WHEN         --show's colors: auto (default: on a terminal, unless NO_COLOR\n"
"                       is set), always or never (glyphs only)\n"
"  --follow             read the trace directory while it is written (live files,\n"
"                       new segments, new rank files) and print, as each window of\n"
"                       --window steps (default %d, or the steps between a rank's\n"
"                       rows where more) closes (every rank has written\n"
"                       its steps), a line if it has findings: new, still active,\n"
"                       ended. Ends when every writer has closed its files (or on\n"
"                       SIGINT/SIGTERM; a second one: at once), then prints the\n"
"                       final report, the same as 'dxt-analyze TRACE --window W'\n"
"                       of the trace as it is then (-o FILE: there). Waits for\n"
"                       the trace directory to appear (its parent must exist).\n"
"                       Each poll re-reads and re-analyzes the whole trace: its\n"
"                       cost grows as ranks^2 x steps (64 ranks x 5,000 steps,\n"
"                       690 MB of live files: about 3 s of CPU a poll)\n"
"  --interval SECONDS   --follow: seconds between polls (default 1)\n"
"  -q, --quiet          print the findings only\n"
"  -h, --help           this help\n"
"  --version            the version\n\n"
"On a terminal, long work (reading, analysis, pictures) shows its progress on stderr.\n\n"
"mpirun -n P dxt-analyze TRACE ...: P processes split the rank files of a trace\n"
"(each reads its block of ranks), process 0 classifies and writes the same report\n"
"as one process would; the others write nothing and every process exits alike\n"
"(OpenMPI; a build without it analyzes in process 0 alone). Not with --follow.\n\n"
"--follow lines: text, 'steps A-B: new|still|ended KIND in OP: SUBJECT ...; ...';\n"
"with --format json one object per line:\n"
"  {\"first_step\": A, \"last_step\": B, \"events\": [{\"event\": \"new\"|\"active\"|\"ended\",\n"
"   \"kind\", \"op\", \"rank\" | \"src\",\"dst\" | \"node\",\"ranks\",\"as\", \"first_step\",\n"
"   \"last_step\", \"severity\", \"score\", \"p_value\", ...}]}\n"
"(a finding's fields as in the JSON report), then the JSON report itself. Files\n"
"without closed_unix_ns (older writers) count as closed; a file whose writer was\n"
"killed never closes: stop --follow with SIGINT.\n\n"
"Exit codes:\n", DXT_FOLLOW_WINDOW);
#define EXIT_HELP(id, code, what) fprintf(out, "  %d  %s\n", code, what);
    DXT_EXIT_CODES(EXIT_HELP)
#undef EXIT_HELP
}

static int parse_int64(const char *s, const char *opt, int64_t min, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min) {
        if (min == INT64_MIN)
            fprintf(stderr, "dxt-analyze: %s wants an integer, not '%s'\n", opt, s);
        else
            fprintf(stderr, "dxt-analyze: %s wants an integer >= %lld, not '%s'\n", opt,
                    (long long)min, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *s, const char *opt, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "dxt-analyze: %s wants a number, not '%s'\n", opt, s);
        return -1;
    }
    return 0;
}

/* The picture options (--plots, --show and how they look); -1 not one of them. */
static int parse_plot_option(cli *c, int opt, const char *arg)
{
    switch (opt) {
    case OPT_COLOR:
        if (strcmp(arg, "auto") && strcmp(arg, "always") && strcmp(arg, "never")) {
            fprintf(stderr, "dxt-analyze: --color is auto, always or never, not '%s'\n", arg);
            return -1;
        }
        c->plots.color = !strcmp(arg, "auto") ? -1 : !strcmp(arg, "always");
        return 0;
    case OPT_PALETTE: {
        int p = dxt_palette_from_str(arg);
        if (p < 0) {
            fprintf(stderr, "dxt-analyze: --palette is heat or deepxtrace, not '%s'\n", arg);
            return -1;
        }
        c->plots.palette = (dxt_palette)p;
        return 0;
    }
    case OPT_PLOTS:
        c->plots.dir = arg;
        return 0;
    case OPT_SHOW:
        c->plots.show = 1;
        return 0;
    case OPT_ABS_COLOR:
        c->plots.abs_color = 1;
        return 0;
    case OPT_LOG_COLOR:
        c->plots.log_color = 1;
        return 0;
    case OPT_PLOT_WINDOW: {
        char msg[256];
        c->plots.have_window = 1;
        if (dxt_plots_parse_window(arg, &c->plots.window_from, &c->plots.window_to, msg,
                                   sizeof msg) == 0)
            return 0;
        fprintf(stderr, "dxt-analyze: %s\n", msg);
        return -1;
    }
    default:
        return -1;
    }
}

/* What is written and where (--format, -o, --follow, -q); else the picture options. */
static int parse_output_option(cli *c, int opt, const char *arg)
{
    switch (opt) {
    case OPT_FORMAT:
        if (strcmp(arg, "json") && strcmp(arg, "text") && strcmp(arg, "csv")) {
            fprintf(stderr, "dxt-analyze: --format is text, json or csv, not '%s'\n", arg);
            return -1;
        }
        c->format = !strcmp(arg, "json") ? REPORT_JSON : !strcmp(arg, "csv") ? REPORT_CSV
                                                                            : REPORT_TEXT;
        return 0;
    case OPT_MATRICES:
        c->matrices = 1;
        return 0;
    case OPT_FOLLOW:
        c->follow = 1;
        return 0;
    case OPT_INTERVAL:
        if (parse_double(arg, "--interval", &c->interval) != 0)
            return -1;
        if (!(c->interval > 0 && c->interval <= 3600)) {
            fprintf(stderr, "dxt-analyze: --interval wants seconds in (0, 3600], not '%s'\n",
                    arg);
            return -1;
        }
        return 0;
    case 'o':
        c->output = arg;
        return 0;
    case 'q':
        c->quiet = 1;
        return 0;
    default:
        return parse_plot_option(c, opt, arg);
    }
}

/* The input and analysis options; else parse_output_option. */
static int parse_option(cli *c, int opt, const char *arg)
{
    int64_t v;
    switch (opt) {
    case OPT_UNIT:
        if (!*arg || strlen(arg) >= 16) { /* the unit attribute's size */
            fprintf(stderr, "dxt-analyze: --unit wants a short name (us, ns, cycles), not '%s'\n",
                    arg);
            return -1;
        }
        c->input.unit = arg;
        return 0;
    case OPT_WINDOW:
        return parse_int64(arg, "--window", 1, &c->analysis.window_steps);
    case OPT_TEST_WINDOW:
        return parse_int64(arg, "--test-window", 1, &c->analysis.test_window_steps);
    case OPT_FROM:
        return parse_int64(arg, "--from", INT64_MIN, &c->analysis.from);
    case OPT_TO:
        return parse_int64(arg, "--to", INT64_MIN, &c->analysis.to);
    case OPT_OP:
        if (c->analysis.nops >= DXT_MAX_OPS) {
            fprintf(stderr, "dxt-analyze: at most %d --op\n", DXT_MAX_OPS);
            return -1;
        }
        c->analysis.ops[c->analysis.nops++] = arg;
        c->input.text_op = c->analysis.ops[0];
        return 0;
    case OPT_RUN:
        c->input.run_id = arg;
        return 0;
    case OPT_PER_NODE:
        if (parse_int64(arg, "--per-node", 1, &v) != 0 || v > DXT_MAX_WORLD)
            return -1;
        c->input.per_node = (int)v;
        return 0;
    case OPT_MIN_SEVERITY:
        return parse_double(arg, "--min-severity", &c->analysis.classify.min_severity);
    case OPT_MIN_SCORE:
        return parse_double(arg, "--min-score", &c->analysis.classify.min_score);
    case OPT_VERBOSE:
        c->analysis.classify.verbose++;
        return 0;
    default:
        return parse_output_option(c, opt, arg);
    }
}

/* 0 parsed, 1 help or version printed, -1 usage error. */
static int parse_cli(cli *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    dxt_input_opts_init(&c->input);
    dxt_analysis_opts_init(&c->analysis);
    dxt_plots_request_init(&c->plots);
    c->interval = 1.0;
    int opt;
    while ((opt = getopt_long(argc, argv, "qho:", long_options, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return 1;
        }
        if (opt == OPT_VERSION) {
            printf("dxt-analyze (dxtrace) %s\n", DXT_VERSION);
            return 1;
        }
        if (opt == '?' || parse_option(c, opt, optarg) != 0)
            return -1;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "dxt-analyze: %s\n", optind >= argc ? "no TRACE given" : "one TRACE only");
        return -1;
    }
    if (c->matrices && c->format != REPORT_CSV) {
        fprintf(stderr, "dxt-analyze: --matrices goes with --format csv\n");
        return -1;
    }
    if (c->follow && c->format == REPORT_CSV) {
        fprintf(stderr, "dxt-analyze: --follow goes with --format text or json\n");
        return -1;
    }
    c->trace = argv[optind];
    return 0;
}

/* A progress line on a terminal, at most twice a second, from half a second
 * into the work; its end line only when a line was shown. */
typedef struct progress {
    struct timespec last;
    int started, shown;
} progress;

static void show_progress(void *user, const char *op, double fraction)
{
    progress *p = user;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!p->started) {
        p->started = 1;
        p->last = now;
    }
    double since = (double)(now.tv_sec - p->last.tv_sec) + (now.tv_nsec - p->last.tv_nsec) * 1e-9;
    if (fraction >= 1.0 ? !p->shown : since < 0.5)
        return;
    p->last = now;
    p->shown = 1;
    fprintf(stderr, "\rdxt-analyze: %s %3.0f%%", op, 100.0 * fraction);
    if (fraction >= 1.0) {
        fprintf(stderr, "\n");
        p->started = p->shown = 0;
    }
}

/* Many ranks means many open files: raise the soft limit to the hard one. */
static void raise_file_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &lim);
    }
}

static void print_load_messages(const dxt_input *in)
{
    dxt_input_info info;
    dxt_input_describe(in, &info);
    for (int k = 0; k < info.nskipped; k++) {
        const char *path, *reason;
        dxt_input_skipped(in, k, &path, &reason);
        if (strstr(reason, path))
            fprintf(stderr, "dxt-analyze: skipped %s\n", reason);
        else
            fprintf(stderr, "dxt-analyze: skipped %s: %s\n", path, reason);
    }
}

static int write_report(const cli *c, FILE *out, const dxt_analysis *a)
{
    switch (c->format) {
    case REPORT_JSON:
        return dxt_report_json(out, a);
    case REPORT_CSV:
        return c->matrices ? dxt_report_csv_matrices(out, a) : dxt_report_csv(out, a);
    default:
        return dxt_report_text(out, a, c->quiet);
    }
}

/* Pictures (plots/analysis_plots.h): their failure does not stop the report. */
/* -o FILE: the report goes into a new file of FILE's directory and is put at FILE
 * when complete; it replaces only an earlier file of ours, never a link or another
 * user's file (format/dxt_format.h, dxt_output_open). */
static int open_report(const char *path, dxt_newfile *nf, const char **base, FILE **out)
{
    dxt_error e = {{0}};
    int fd = -1;
    if (dxt_output_open(path, nf, base, &e) != 0 || (fd = dup(nf->fd)) < 0 ||
        !(*out = fdopen(fd, "w"))) {
        fprintf(stderr, "dxt-analyze: cannot write %s: %s\n", path, e.msg[0] ? e.msg : strerror(errno));
        if (fd >= 0)
            close(fd);
        if (nf->dirfd >= 0) {
            dxt_newfile_discard(nf);
            close(nf->dirfd);
        }
        return -1;
    }
    return 0;
}

/* Close the report; publish it at path when keep, else throw it away. */
static int close_report(const char *path, dxt_newfile *nf, const char *base, FILE *out, int keep)
{
    dxt_error e = {{0}};
    int rc = 0;
    if (fclose(out) != 0) {
        fprintf(stderr, "dxt-analyze: cannot write %s: %s\n", path, strerror(errno));
        keep = 0;
        rc = -1;
    }
    if (!keep) {
        dxt_newfile_discard(nf);
        close(nf->dirfd);
        return rc;
    }
    if (dxt_output_publish(nf, path, base, &e) != 0) {
        fprintf(stderr, "dxt-analyze: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int draw(cli *c, const dxt_analysis *a, FILE *report_out, progress *progress)
{
    char plot_err[512] = "";
    if (!c->plots.dir && !c->plots.show)
        return 0;
    if (isatty(STDERR_FILENO) && c->plots.dir) {
        c->plots.progress = show_progress;
        c->plots.progress_user = progress;
    }
    /* --show goes with a text report on stdout, else to stderr */
    FILE *show_out = c->format == REPORT_TEXT && report_out == stdout ? stdout : stderr;
    if (dxt_plots_run(a, &c->plots, show_out, NULL, plot_err, sizeof plot_err) == DXT_PLOT_OK)
        return 0;
    fprintf(stderr, "dxt-analyze: plots: %s\n", plot_err);
    return -1;
}

/* The report of a (and its pictures) to stdout or -o FILE: the exit code. */
static int output_report(cli *c, const dxt_analysis *a, progress *last_progress)
{
    FILE *out = stdout;
    dxt_newfile report_file = {.dirfd = -1, .fd = -1};
    const char *report_base = NULL;
    int rc;
    if (c->output && open_report(c->output, &report_file, &report_base, &out) != 0)
        return EXIT_FAILED;
    int drawn = draw(c, a, out, last_progress);
    if (write_report(c, out, a) != 0 || fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "dxt-analyze: cannot write the report%s%s: %s\n", c->output ? " to " : "",
                c->output ? c->output : "", strerror(errno));
        rc = EXIT_FAILED;
    } else {
        rc = drawn == 0 ? EXIT_ANALYZED : EXIT_PLOTS;
    }
    if (out != stdout && close_report(c->output, &report_file, report_base, out,
                                      rc != EXIT_FAILED) != 0)
        rc = EXIT_FAILED;
    return rc;
}

/* ---- --follow ------------------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

/* SIGINT, SIGTERM: end the polls and write the final report; a second one ends
 * the process at once (the handler resets itself). */
static int catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND; /* no SA_RESTART: the nap ends at the signal */
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ? -1 : 0;
}

static void nap(double seconds)
{
    struct timespec left = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
    while (!stop_signal && nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

/* What --follow shows on stderr: why it waits (each reason once), the older
 * writers' files (once), a progress line on a terminal. */
typedef struct follow_view {
    char said[512];          /* the last reason given, digits left out */
    int said_legacy, tty, progress_len, lines;
} follow_view;

static void progress_clear(follow_view *v)
{
    if (v->progress_len > 0)
        fprintf(stderr, "\r%*s\r", v->progress_len, "");
    v->progress_len = 0;
}

/* s without its digits (counts and file numbers change from poll to poll). */
static void without_digits(const char *s, char *buf, size_t cap)
{
    size_t used = 0;
    for (; *s && used + 1 < cap; s++)
        if (*s < '0' || *s > '9')
            buf[used++] = *s;
    buf[used] = '\0';
}

static void follow_say(follow_view *v, const char *dir, const dxt_follow_status *st,
                       const dxt_error *err)
{
    if (!st->have_input) {
        char reason[512];
        without_digits(err->msg, reason, sizeof reason);
        if (strcmp(reason, v->said) != 0) {
            progress_clear(v);
            fprintf(stderr, "dxt-analyze: --follow: waiting: %s\n", err->msg);
            snprintf(v->said, sizeof v->said, "%s", reason);
        }
    } else if (st->nlegacy > 0 && !v->said_legacy) {
        progress_clear(v);
        fprintf(stderr, "dxt-analyze: %d of %d files have no closed_unix_ns (written by an "
                "older dxtrace): taken as closed\n", st->nlegacy, st->nfiles);
        v->said_legacy = 1;
    }
    if (!v->tty || !st->have_input)
        return;
    char line[256];
    int len = snprintf(line, sizeof line, "dxt-analyze: %s: %d files, %d being written, %d "
                       "windows out", dir, st->nfiles, st->nwriting, st->windows);
    if (st->windows > 0 && len > 0 && (size_t)len < sizeof line)
        len += snprintf(line + len, sizeof line - (size_t)len, " (to step %" PRId64 "), %d "
                        "findings active", st->closed_to, st->active);
    progress_clear(v);
    fprintf(stderr, "%s", line);
    v->progress_len = len > 0 ? (len < (int)sizeof line ? len : (int)sizeof line - 1) : 0;
}

/* One poll: its lines go to stdout at once (stdout may be a pipe). */
static int follow_poll_once(const cli *c, dxt_follow *f, follow_view *v, dxt_follow_status *st)
{
    dxt_error err = {{0}};
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) {
        fprintf(stderr, "dxt-analyze: out of memory\n");
        return -1;
    }
    int rc = dxt_follow_poll(f, mem, c->format == REPORT_JSON, st, &err);
    if (fclose(mem) != 0 && rc == 0) {
        snprintf(err.msg, sizeof err.msg, "out of memory for the findings");
        rc = -1;
    }
    if (rc == 0 && len > 0) {
        progress_clear(v);
        v->lines = 1;
        if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
            snprintf(err.msg, sizeof err.msg, "cannot write the findings: %s", strerror(errno));
            rc = -1;
        }
    }
    free(buf);
    if (rc != 0) {
        progress_clear(v);
        fprintf(stderr, "dxt-analyze: %s\n", err.msg);
        return -1;
    }
    follow_say(v, c->trace, st, &err);
    return 0;
}

/* The trace directory, or the directory it will be made in, must exist: a
 * mistyped path (or a file) is said at once instead of waited for. 0 or -1. */
static int follow_place_ok(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        fprintf(stderr, "dxt-analyze: %s: --follow reads a trace directory\n", path);
        return -1;
    }
    char *copy = strdup(path);
    int ok = copy && stat(dirname(copy), &st) == 0 && S_ISDIR(st.st_mode);
    free(copy);
    if (!ok)
        fprintf(stderr, "dxt-analyze: %s: no such directory, nor its parent\n", path);
    return ok ? 0 : -1;
}

static int follow_main(cli *c)
{
    dxt_error err = {{0}};
    dxt_follow *f = NULL;
    dxt_analysis *a = NULL;
    dxt_follow_status st;
    follow_view view = {.tty = isatty(STDERR_FILENO)};
    progress last_progress = {{0, 0}, 0, 0};
    int rc = EXIT_FAILED;
    if (follow_place_ok(c->trace) != 0)
        return EXIT_NO_INPUT;
    if (catch_stop_signals() != 0 || dxt_follow_new(c->trace, &c->input, &c->analysis, &f, &err)) {
        fprintf(stderr, "dxt-analyze: %s\n", err.msg[0] ? err.msg : strerror(errno));
        return EXIT_FAILED;
    }
    for (;;) {
        if (follow_poll_once(c, f, &view, &st) != 0)
            goto done;
        if (st.done || stop_signal)
            break;
        nap(c->interval);
        if (stop_signal)
            break;
    }
    progress_clear(&view);
    int ran = dxt_follow_final(f, &a, &err);
    if (ran != 0) {
        fprintf(stderr, "dxt-analyze: %s\n", err.msg);
        rc = ran == -2 ? EXIT_NO_INPUT : EXIT_FAILED;
        goto done;
    }
    if (view.lines && !c->output && c->format == REPORT_TEXT && fputc('\n', stdout) == EOF)
        goto done;
    rc = output_report(c, a, &last_progress);
done:
    dxt_analysis_free(a);
    dxt_follow_free(f);
    return rc;
}

/* Load, analyze, report. A partitioned run (mpirun -n P, part->count > 1): every
 * process validates its share of the files and loads the input from all their
 * metadata, streams its ranks; process 0 reports. */
static int analyze_main(cli *c, const dxt_partition *part)
{
    dxt_error err = {{0}};
    dxt_input *in = NULL;
    dxt_analysis *a = NULL;
    progress last_progress = {{0, 0}, 0, 0};
    c->input.partition = part->count > 1 ? part : NULL; /* each process opens its files */
    int rc = dxt_input_open(c->trace, &c->input, &in, &err);
    if (dxt_partition_agree(part, rc, &err) != 0) { /* goes on only if every process can */
        fprintf(stderr, "dxt-analyze: %s\n", err.msg);
        dxt_input_free(in);
        return EXIT_NO_INPUT;
    }
    print_load_messages(in);
    dxt_input_info info;
    dxt_input_describe(in, &info);
    double work = (double)info.world_size * info.world_size *
                  (double)(info.last_step - info.first_step + 1) * info.nops;
    if (isatty(STDERR_FILENO) && info.nfiles > 0 && work > 2e8) {
        c->analysis.progress = show_progress;
        c->analysis.progress_user = &last_progress;
    }
    c->analysis.partition = part->count > 1 ? part : NULL;
    int ran = dxt_analysis_run(in, &c->analysis, &a, &err);
    if (ran != 0) {
        fprintf(stderr, "dxt-analyze: %s\n", err.msg);
        rc = ran == -2 ? EXIT_NO_INPUT : EXIT_FAILED;
    } else {
        rc = part->index == 0 ? output_report(c, a, &last_progress) : EXIT_ANALYZED;
    }
    dxt_analysis_free(a);
    dxt_input_free(in);
    return rc;
}

int main(int argc, char **argv)
{
    cli c;
    dxt_partition part; /* mpirun -n P: this process of P (tools/mpi/) */
    if (dxt_mpi_start(&argc, &argv, &part) != 0)
        return EXIT_ANALYZED; /* built without MPI: process 0 analyzes alone */
    int rc = parse_cli(&c, argc, argv);
    if (rc != 0)
        return dxt_mpi_end(&part, rc > 0 ? EXIT_ANALYZED : EXIT_USAGE);
    raise_file_limit();
    if (c.follow && part.count > 1) {
        fprintf(stderr, "dxt-analyze: --follow runs in one process (mpirun -n 1)\n");
        return dxt_mpi_end(&part, EXIT_USAGE);
    }
    return dxt_mpi_end(&part, c.follow ? follow_main(&c) : analyze_main(&c, &part));
}
