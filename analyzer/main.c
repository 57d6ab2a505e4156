/* main.c - dxt-analyze's command line: options, loading the input, running
 * the analysis, printing the report; exit codes.
 * Owner: the loader/report engineer (A2). The plots engineer adds --plots,
 * --show, --plot-window, --log-color in the marked places (the analysis
 * results: dxt_analysis in analysis.h, one dxt_op_result per op). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "analysis.h"
#include "analysis_plots.h"

/* Exit codes, documented in --help. */
#define DXT_EXIT_CODES(X)                                                          \
    X(EXIT_ANALYZED, 0, "the analysis ran (with or without findings)")              \
    X(EXIT_USAGE, 1, "bad command line")                                            \
    X(EXIT_NO_INPUT, 2, "no usable input (unreadable, no valid file, mixed runs, unknown op, empty step range)") \
    X(EXIT_FAILED, 3, "the analysis failed midway (read error, out of memory, output error)")

enum {
#define EXIT_ENUM(id, code, what) id = code,
    DXT_EXIT_CODES(EXIT_ENUM)
#undef EXIT_ENUM
};

typedef struct cli {
    const char *trace;
    int json, quiet;
    dxt_input_opts input;
    dxt_analysis_opts analysis;
    dxt_plots_request plots; /* --plots, --show, --plot-window, --log-color (plots/) */
} cli;

enum { OPT_FORMAT = 256, OPT_WINDOW, OPT_FROM, OPT_TO, OPT_OP, OPT_RUN, OPT_PER_NODE,
       OPT_MIN_SEVERITY, OPT_MIN_SCORE, OPT_VERBOSE,
       OPT_PLOTS, OPT_SHOW, OPT_PLOT_WINDOW, OPT_LOG_COLOR, OPT_ABS_COLOR };

static const struct option long_options[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"window", required_argument, NULL, OPT_WINDOW},
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
"  --format text|json   report for people (default) or JSON (report format v1)\n"
"  --window STEPS       steps summed per window (default: 1, 2, 5 x 10^k steps,\n"
"                       the smallest giving at most 100 windows)\n"
"  --from STEP, --to STEP   analyze only these steps\n"
"  --op NAME            analyze this op (repeatable; default: every op)\n"
"  --run ID             the run to analyze when the directory holds several\n"
"  --per-node R         ranks per node when the input names no nodes (default 8;\n"
"                       one node when N is not a multiple of R or N <= R)\n"
"  --min-severity X, --min-score Z   classifier thresholds (see classify.h)\n"
"  --verbose            the classifier's reasoning per window, on stderr\n"
"  --plots DIR          write PNGs (gnuplot): per op a heatmap, one per finding, a timeline\n"
"  --plot-window A:B    the heatmap of steps A..B instead of the analyzed range\n"
"  --log-color          logarithmic color scale in the heatmaps\n"
"  --abs-color          color by the wait itself (default: by the wait over the\n"
"                       typical wait of its node pair, so that fast intra-node\n"
"                       and slow inter-node cells are judged alike)\n"
"  --show               draw each op's heatmap in the terminal (ANSI colors)\n"
"  -q, --quiet          print the findings only\n"
"  -h, --help           this help\n\n"
"Exit codes:\n");
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

static int parse_option(cli *c, int opt, const char *arg)
{
    int64_t v;
    switch (opt) {
    case OPT_FORMAT:
        if (strcmp(arg, "json") && strcmp(arg, "text")) {
            fprintf(stderr, "dxt-analyze: --format is text or json, not '%s'\n", arg);
            return -1;
        }
        c->json = strcmp(arg, "json") == 0;
        return 0;
    case OPT_WINDOW:
        return parse_int64(arg, "--window", 1, &c->analysis.window_steps);
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
    case 'q':
        c->quiet = 1;
        return 0;
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

/* 0 parsed, 1 help printed, -1 usage error. */
static int parse_cli(cli *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    dxt_input_opts_init(&c->input);
    dxt_analysis_opts_init(&c->analysis);
    int opt;
    while ((opt = getopt_long(argc, argv, "qh", long_options, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return 1;
        }
        if (opt == '?' || parse_option(c, opt, optarg) != 0)
            return -1;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "dxt-analyze: %s\n", optind >= argc ? "no TRACE given" : "one TRACE only");
        return -1;
    }
    c->trace = argv[optind];
    return 0;
}

/* A progress line on a terminal, at most twice a second. */
static void show_progress(void *user, const char *op, double fraction)
{
    struct timespec *last = user, now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (fraction < 1.0 && now.tv_sec - last->tv_sec + (now.tv_nsec - last->tv_nsec) * 1e-9 < 0.5)
        return;
    *last = now;
    fprintf(stderr, "\rdxt-analyze: %s %3.0f%%", op, 100.0 * fraction);
    if (fraction >= 1.0)
        fprintf(stderr, "\n");
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
    for (int k = 0; k < in->nskipped; k++) {
        const dxt_skipped *s = &in->skipped[k];
        if (strstr(s->reason, s->path))
            fprintf(stderr, "dxt-analyze: skipped %s\n", s->reason);
        else
            fprintf(stderr, "dxt-analyze: skipped %s: %s\n", s->path, s->reason);
    }
}

int main(int argc, char **argv)
{
    cli c;
    dxt_error err = {{0}};
    dxt_input *in = NULL;
    dxt_analysis *a = NULL;
    struct timespec last_progress = {0, 0};
    int rc = parse_cli(&c, argc, argv);
    if (rc != 0)
        return rc > 0 ? EXIT_ANALYZED : EXIT_USAGE;
    raise_file_limit();
    if (dxt_input_open(c.trace, &c.input, &in, &err) != 0) {
        fprintf(stderr, "dxt-analyze: %s\n", err.msg);
        return EXIT_NO_INPUT;
    }
    print_load_messages(in);
    double work = (double)in->n * in->n * (double)(in->last_step - in->first_step + 1) * in->nops;
    if (isatty(STDERR_FILENO) && in->kind == DXT_INPUT_TRACE && work > 2e8) {
        c.analysis.progress = show_progress;
        c.analysis.progress_user = &last_progress;
    }
    int ran = dxt_analysis_run(in, &c.analysis, &a, &err);
    if (ran != 0) {
        fprintf(stderr, "dxt-analyze: %s\n", err.msg);
        rc = ran == -2 ? EXIT_NO_INPUT : EXIT_FAILED;
        goto done;
    }
    if (c.plots.dir || c.plots.show) { /* plots (plots/analysis_plots.h): never fatal */
        char plot_err[512] = "";
        if (dxt_plots_run(a, &c.plots, c.json ? stderr : stdout, NULL, plot_err,
                          sizeof plot_err) != DXT_PLOT_OK)
            fprintf(stderr, "dxt-analyze: plots: %s\n", plot_err);
    }
    if ((c.json ? dxt_report_json(stdout, a) : dxt_report_text(stdout, a, c.quiet)) != 0 ||
        fflush(stdout) != 0) {
        fprintf(stderr, "dxt-analyze: cannot write the report: %s\n", strerror(errno));
        rc = EXIT_FAILED;
        goto done;
    }
    rc = EXIT_ANALYZED;
done:
    dxt_analysis_free(a);
    dxt_input_free(in);
    return rc;
}
