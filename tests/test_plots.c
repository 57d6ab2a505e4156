/* test_plots.c - cmocka tests of plots/: heatmap PNGs of the expected pixel
 * size (IHDR), pixels sampled (a slow source's flagged column red, a healthy
 * cell of the same node block green, no outline on a healthy matrix), the
 * timeline, the terminal view, gnuplot injection through titles and paths,
 * a missing or failing gnuplot, bad input.
 * Owner: the plots engineer. Pixels are decoded by Debian's /usr/bin/python3
 * (zlib, no PIL); those tests are skipped without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plots.h"

#define PYTHON "/usr/bin/python3"

static char tmpdir[64];

/* The PNG decoder: prints "r g b" for each x y pair, or with "count-blue"
 * the number of outline-blue pixels (the palette has none). */
static const char png_py[] =
    "import sys, zlib, struct\n"
    "d = open(sys.argv[1], 'rb').read()\n"
    "assert d[:8] == b'\\x89PNG\\r\\n\\x1a\\n'\n"
    "pos, idat = 8, b''\n"
    "while pos < len(d):\n"
    "    ln, typ = struct.unpack('>I4s', d[pos:pos+8]); body = d[pos+8:pos+8+ln]\n"
    "    if typ == b'IHDR': w, h, depth, ctype = struct.unpack('>IIBB', body[:10])\n"
    "    elif typ == b'IDAT': idat += body\n"
    "    pos += 12 + ln\n"
    "bpp = {2: 3, 6: 4}[ctype]; assert depth == 8\n"
    "raw = zlib.decompress(idat); stride = w * bpp; rows = []; prev = bytearray(stride); p = 0\n"
    "for y in range(h):\n"
    "    f = raw[p]; line = bytearray(raw[p+1:p+1+stride]); p += 1 + stride\n"
    "    for x in range(stride):\n"
    "        a = line[x-bpp] if x >= bpp else 0; b = prev[x]; c = prev[x-bpp] if x >= bpp else 0\n"
    "        if f == 1: line[x] = (line[x] + a) & 255\n"
    "        elif f == 2: line[x] = (line[x] + b) & 255\n"
    "        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255\n"
    "        elif f == 4:\n"
    "            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)\n"
    "            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255\n"
    "    rows.append(line); prev = line\n"
    "def px(x, y): r = rows[y]; return r[x*bpp], r[x*bpp+1], r[x*bpp+2]\n"
    "if sys.argv[2] == 'count-blue':\n"
    "    print(sum(1 for y in range(h) for x in range(w) if px(x, y)[2] > 150 and px(x, y)[0] < 100))\n"
    "else:\n"
    "    for k in range(2, len(sys.argv), 2): print(*px(int(sys.argv[k]), int(sys.argv[k+1])))\n";

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dxt-test-plots-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/png.py", tmpdir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(png_py, f);
    return fclose(f);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* IHDR width and height of a PNG file; -1 when it is no PNG. */
static int png_size(const char *path, int *w, int *h)
{
    unsigned char head[24];
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got != sizeof head || memcmp(head, "\x89PNG\r\n\x1a\n", 8) != 0 ||
        memcmp(head + 12, "IHDR", 4) != 0)
        return -1;
    *w = (head[16] << 24) | (head[17] << 16) | (head[18] << 8) | head[19];
    *h = (head[20] << 24) | (head[21] << 16) | (head[22] << 8) | head[23];
    return 0;
}

/* Run the decoder: args "x y x y ..." or "count-blue"; fills out[] with the
 * numbers printed; returns how many. */
static int png_query(const char *png, const char *args, int *out, int max)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, PYTHON " %s/png.py '%s' %s", tmpdir, png, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int count = 0;
    while (count < max && fscanf(p, "%d", &out[count]) == 1)
        count++;
    assert_int_equal(pclose(p), 0);
    return count;
}

static int have_python(void) { return access(PYTHON, X_OK) == 0; }

/* A healthy N x N matrix, ranks 8 per node: ~100 inside a node, ~130 across,
 * small jitter; diagonal NAN. slow_source: that column x3 (-1: none). */
static double *make_matrix(int n, int slow_source)
{
    double *m = malloc((size_t)n * n * sizeof *m);
    assert_non_null(m);
    unsigned seed = 12345;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            seed = seed * 1103515245u + 12345u;
            double v = 100.0 + 10.0 * ((seed >> 16) & 0x7fff) / 32768.0;
            if (i / 8 != j / 8)
                v += 10.0;
            if (j == slow_source)
                v *= 3.0;
            m[(size_t)i * n + j] = i == j ? NAN : v;
        }
    return m;
}

typedef struct fixture {
    int node_of[1024];
    dxt_topology topo;
    dxt_finding finding;
    dxt_plot_opts opts;
} fixture;

static void fixture_init(fixture *fx, int n, int slow_source)
{
    memset(fx, 0, sizeof *fx);
    for (int i = 0; i < n; i++)
        fx->node_of[i] = i / 8;
    fx->topo.n = n;
    fx->topo.nnodes = (n + 7) / 8;
    fx->topo.node_of = fx->node_of;
    fx->finding.kind = DXT_SLOW_SOURCE;
    snprintf(fx->finding.op, sizeof fx->finding.op, "dispatch");
    fx->finding.rank = slow_source;
    fx->finding.src = fx->finding.dst = fx->finding.node = -1;
    fx->finding.first_step = 100;
    fx->finding.last_step = 999;
    dxt_plot_opts_init(&fx->opts);
    fx->opts.run_id = "test-run";
    fx->opts.op = "dispatch";
    fx->opts.last_step = 999;
    fx->opts.topo = &fx->topo;
    if (slow_source >= 0) {
        fx->opts.findings = &fx->finding;
        fx->opts.nfindings = 1;
    }
}

static void test_layout(void **state)
{
    (void)state;
    static const int sizes[] = {1, 8, 16, 100, 128, 1000, 1024, 4096};
    dxt_heatmap_layout l;
    fixture fx;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        assert_int_equal(dxt_heatmap_layout_for(sizes[k], NULL, &l), 0);
        assert_true(l.cell_w >= DXT_HEATMAP_MIN_CELL_PX || l.group == 1);
        assert_int_equal(l.area_w, l.cell_w * l.cols + 2);
        assert_int_equal(l.cols, (sizes[k] + l.group - 1) / l.group);
        assert_true(l.width > l.area_x + l.area_w && l.height > l.area_y + l.area_h);
        assert_true(l.width < 1200 && l.height < 1200); /* a picture, whatever N */
    }
    assert_int_equal(dxt_heatmap_layout_for(16, NULL, &l), 0);
    assert_true(l.cell_labels);
    assert_int_equal(l.group, 1);
    /* cells would get small: whole nodes per cell */
    fixture_init(&fx, 1024, -1);
    assert_int_equal(dxt_heatmap_layout_for(1024, &fx.topo, &l), 0);
    assert_false(l.cell_labels);
    assert_int_equal(l.group % 8, 0);
    assert_int_equal(dxt_heatmap_layout_for(0, NULL, &l), -1);
    assert_int_equal(dxt_heatmap_layout_for(1 << 20, NULL, &l), -1);
}

static void render_and_check_size(int n)
{
    fixture fx;
    char path[128], err[512] = "", name[32];
    int w, h;
    dxt_heatmap_layout l;
    double *m = make_matrix(n, 3);
    fixture_init(&fx, n, 3);
    snprintf(name, sizeof name, "size-%d.png", n);
    tmp_path(path, sizeof path, name);
    dxt_plot_rc rc = dxt_plot_heatmap(path, n, m, &fx.opts, err, sizeof err);
    if (rc != DXT_PLOT_OK)
        print_error("%s\n", err);
    assert_int_equal(rc, DXT_PLOT_OK);
    assert_int_equal(png_size(path, &w, &h), 0);
    assert_int_equal(dxt_heatmap_layout_for(n, &fx.topo, &l), 0);
    assert_int_equal(w, l.width);
    assert_int_equal(h, l.height);
    free(m);
}

static void test_heatmap_sizes(void **state)
{
    (void)state;
    render_and_check_size(8);
    render_and_check_size(16);
    render_and_check_size(128);
    render_and_check_size(1024);
}

/* A pixel of the cell holding ranks (i, j): its centre, or a quarter in from
 * the top-left corner when the cell is large enough to hold its value. */
static void cell_centre(const dxt_heatmap_layout *l, int i, int j, int *x, int *y)
{
    int r = i / l->group, c = j / l->group;
    *x = l->area_x + 1 + c * l->cell_w + (l->cell_labels ? l->cell_w / 4 : l->cell_w / 2);
    *y = l->area_y + 1 + r * l->cell_h + (l->cell_labels ? l->cell_h / 4 : l->cell_h / 2);
}

static void check_slow_source_pixels(int n, int slow)
{
    fixture fx;
    char path[128], err[512] = "", args[256], name[32];
    int rgb[12], x[4], y[4];
    dxt_heatmap_layout l;
    double *m = make_matrix(n, slow);
    fixture_init(&fx, n, slow);
    snprintf(name, sizeof name, "slow-%d.png", n);
    tmp_path(path, sizeof path, name);
    assert_int_equal(dxt_plot_heatmap(path, n, m, &fx.opts, err, sizeof err), DXT_PLOT_OK);
    assert_int_equal(dxt_heatmap_layout_for(n, &fx.topo, &l), 0);
    cell_centre(&l, 2, slow, &x[0], &y[0]);     /* flagged column, same node block */
    cell_centre(&l, 2, slow + 2 * l.group, &x[1], &y[1]); /* healthy, past the outline */
    cell_centre(&l, n - 1, slow, &x[2], &y[2]); /* flagged column, last row */
    cell_centre(&l, n - 1, 0, &x[3], &y[3]);    /* healthy, across nodes */
    snprintf(args, sizeof args, "%d %d %d %d %d %d %d %d", x[0], y[0], x[1], y[1], x[2], y[2],
             x[3], y[3]);
    assert_int_equal(png_query(path, args, rgb, 12), 12);
    for (int k = 0; k < 4; k++)
        print_message("n=%d pixel (%d,%d): %d %d %d\n", n, x[k], y[k], rgb[3 * k], rgb[3 * k + 1],
                      rgb[3 * k + 2]);
    /* 3x typical: dark red (the heat palette's upper half) */
    assert_true(rgb[0] > 120 && rgb[1] < 80 && rgb[2] < 80);
    assert_true(rgb[6] > 120 && rgb[7] < 80 && rgb[8] < 80);
    /* typical: the palette's pale end */
    assert_true(rgb[3] > 230 && rgb[4] > 200 && rgb[5] > 120);
    assert_true(rgb[9] > 230 && rgb[10] > 200 && rgb[11] > 120);
    assert_true(png_query(path, "count-blue", rgb, 1) == 1 && rgb[0] > 0); /* outlined */
    free(m);
}

static void test_slow_source_pixels(void **state)
{
    (void)state;
    if (!have_python())
        skip();
    check_slow_source_pixels(16, 5);
    check_slow_source_pixels(128, 21);
    check_slow_source_pixels(1024, 300);
}

/* The panel of a finding: its column and neighbours, the column dark. */
static void test_zoom_panel(void **state)
{
    (void)state;
    fixture fx;
    char path[128], err[512] = "";
    int w, h, rgb[3];
    if (!have_python())
        skip();
    double *m = make_matrix(1024, 300);
    fixture_init(&fx, 1024, 300);
    fx.opts.zoom = &fx.finding;
    tmp_path(path, sizeof path, "zoom.png");
    assert_int_equal(dxt_plot_heatmap(path, 1024, m, &fx.opts, err, sizeof err), DXT_PLOT_OK);
    assert_int_equal(png_size(path, &w, &h), 0);
    /* columns 288..311 (its node, one node either side): 24 cells of 30 px,
     * column 300 is cell 12; rows two nodes per cell (64 cells of 11 px) */
    char args[64];
    snprintf(args, sizeof args, "%d %d", 100 + 1 + 12 * 30 + 15, 76 + 1 + 20 * 11 + 5);
    assert_int_equal(png_query(path, args, rgb, 3), 3);
    assert_true(rgb[0] > 120 && rgb[1] < 80 && rgb[2] < 80);
    free(m);
}

static void test_healthy_has_no_outline(void **state)
{
    (void)state;
    fixture fx;
    char path[128], err[512] = "";
    int count = -1;
    if (!have_python())
        skip();
    double *m = make_matrix(16, -1);
    fixture_init(&fx, 16, -1);
    tmp_path(path, sizeof path, "healthy.png");
    assert_int_equal(dxt_plot_heatmap(path, 16, m, &fx.opts, err, sizeof err), DXT_PLOT_OK);
    assert_int_equal(png_query(path, "count-blue", &count, 1), 1);
    assert_int_equal(count, 0);
    /* findings of another op are not drawn either */
    fixture_init(&fx, 16, 5);
    snprintf(fx.finding.op, sizeof fx.finding.op, "combine");
    assert_int_equal(dxt_plot_heatmap(path, 16, m, &fx.opts, err, sizeof err), DXT_PLOT_OK);
    assert_int_equal(png_query(path, "count-blue", &count, 1), 1);
    assert_int_equal(count, 0);
    free(m);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_injection(void **state)
{
    (void)state;
    fixture fx;
    char path[400], err[512] = "", mark[3][128], title[3][256];
    double *m = make_matrix(8, -1);
    fixture_init(&fx, 8, -1);
    for (int k = 0; k < 3; k++) {
        char name[16];
        snprintf(name, sizeof name, "pwned%d", k & 7);
        tmp_path(mark[k], sizeof mark[k], name);
    }
    snprintf(title[0], sizeof title[0], "x' ; system('touch %s') ; '", mark[0]);
    snprintf(title[1], sizeof title[1], "x\nsystem('touch %s')\n", mark[1]);
    snprintf(title[2], sizeof title[2], "`touch %s` @GPVAL_TERM \" ' ''", mark[2]);
    snprintf(path, sizeof path, "%s/a b'c\" ; d.png", tmpdir);
    for (int k = 0; k < 3; k++) {
        fx.opts.run_id = title[k];
        fx.opts.op = title[(k + 1) % 3];
        fx.opts.unit = title[(k + 2) % 3];
        dxt_plot_rc rc = dxt_plot_heatmap(path, 8, m, &fx.opts, err, sizeof err);
        if (rc != DXT_PLOT_OK)
            print_error("%s\n", err);
        assert_int_equal(rc, DXT_PLOT_OK);
        dxt_timeline_series s = {title[k], 0, NULL, NULL, NULL, INT64_MIN};
        assert_int_equal(dxt_plot_timeline(path, &s, 1, NULL, &fx.opts, err, sizeof err),
                         DXT_PLOT_OK);
    }
    assert_true(exists(path));
    for (int k = 0; k < 3; k++)
        assert_false(exists(mark[k]));
    /* a path with a newline could end the command: refused */
    snprintf(path, sizeof path, "%s/x.png'\nsystem('touch %s')\n'", tmpdir, mark[0]);
    assert_int_equal(dxt_plot_heatmap(path, 8, m, &fx.opts, err, sizeof err), DXT_PLOT_EINVAL);
    assert_non_null(strstr(err, "control character"));
    assert_false(exists(mark[0]));
    free(m);
}

static void test_missing_gnuplot(void **state)
{
    (void)state;
    fixture fx;
    char path[128], err[512] = "";
    double *m = make_matrix(8, -1);
    fixture_init(&fx, 8, -1);
    tmp_path(path, sizeof path, "nognuplot.png");
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    assert_int_equal(setenv("PATH", tmpdir, 1), 0);
    dxt_plot_rc rc = dxt_plot_heatmap(path, 8, m, &fx.opts, err, sizeof err);
    if (old)
        setenv("PATH", old, 1);
    free(old);
    assert_int_equal(rc, DXT_PLOT_ENOGNUPLOT);
    assert_non_null(strstr(err, "gnuplot not found: install gnuplot-nox"));
    assert_false(exists(path));
    fx.opts.gnuplot = "/nonexistent/gnuplot";
    assert_int_equal(dxt_plot_heatmap(path, 8, m, &fx.opts, err, sizeof err),
                     DXT_PLOT_ENOGNUPLOT);
    /* a gnuplot that fails */
    fx.opts.gnuplot = "false";
    assert_int_equal(dxt_plot_heatmap(path, 8, m, &fx.opts, err, sizeof err), DXT_PLOT_EGNUPLOT);
    assert_non_null(strstr(err, "failed"));
    /* an output directory that does not exist: refused before gnuplot runs */
    fx.opts.gnuplot = NULL;
    tmp_path(path, sizeof path, "no/such/dir/x.png");
    assert_int_equal(dxt_plot_heatmap(path, 8, m, &fx.opts, err, sizeof err), DXT_PLOT_EIO);
    assert_non_null(strstr(err, "no/such"));
    free(m);
}

static void test_bad_input(void **state)
{
    (void)state;
    char path[128], err[512] = "";
    double m[4] = {NAN, NAN, NAN, NAN};
    float mf[4] = {0, 1, 2, 0};
    tmp_path(path, sizeof path, "bad.png");
    assert_int_equal(dxt_plot_heatmap(path, 0, m, NULL, err, sizeof err), DXT_PLOT_EINVAL);
    assert_int_equal(dxt_plot_heatmap(path, -5, m, NULL, err, sizeof err), DXT_PLOT_EINVAL);
    assert_int_equal(dxt_plot_heatmap(path, 2, NULL, NULL, err, sizeof err), DXT_PLOT_EINVAL);
    assert_int_equal(dxt_plot_heatmap(path, 1 << 20, m, NULL, err, sizeof err),
                     DXT_PLOT_EINVAL);
    assert_int_equal(dxt_plot_heatmap(NULL, 2, m, NULL, err, sizeof err), DXT_PLOT_EINVAL);
    assert_int_equal(dxt_plot_heatmap("", 2, m, NULL, err, sizeof err), DXT_PLOT_EINVAL);
    assert_int_equal(dxt_plot_heatmap(path, 2, m, NULL, NULL, 0), DXT_PLOT_OK); /* all NAN */
    dxt_plot_opts o;
    dxt_plot_opts_init(&o);
    o.log_color = 1; /* zeros and a constant matrix on a log scale */
    assert_int_equal(dxt_plot_heatmap_f32(path, 2, mf, &o, err, sizeof err), DXT_PLOT_OK);
    /* findings out of range, a topology of another size: ignored */
    dxt_finding f;
    memset(&f, 0, sizeof f);
    f.kind = DXT_SLOW_PATH;
    f.src = 7;
    f.dst = -3;
    int node_of[3] = {0, 0, 1};
    dxt_topology t = {3, 2, node_of, NULL};
    o.findings = &f;
    o.nfindings = 1;
    o.topo = &t;
    assert_int_equal(dxt_plot_heatmap_f32(path, 2, mf, &o, err, sizeof err), DXT_PLOT_OK);
    assert_int_equal(dxt_show_heatmap(NULL, 2, m, &o, err, sizeof err), DXT_PLOT_EINVAL);
    dxt_timeline_series s = {"x", -1, NULL, NULL, NULL, INT64_MIN};
    assert_int_equal(dxt_plot_timeline(path, &s, 1, NULL, &o, err, sizeof err), DXT_PLOT_EINVAL);
    s.nwin = 3; /* no arrays */
    assert_int_equal(dxt_plot_timeline(path, &s, 1, NULL, &o, err, sizeof err), DXT_PLOT_EINVAL);
    assert_string_equal(dxt_plot_rc_str(DXT_PLOT_ENOGNUPLOT), "gnuplot not found");
    assert_string_equal(dxt_plot_rc_str((dxt_plot_rc)99), "unknown result");
}

#define WINDOWS 40

static void test_timeline(void **state)
{
    (void)state;
    char path[128], err[512] = "";
    int64_t steps[WINDOWS];
    double subject[WINDOWS], peers[WINDOWS], flat[WINDOWS];
    int w, h;
    for (int k = 0; k < WINDOWS; k++) {
        steps[k] = 100 * k;
        peers[k] = 100.0 + (k % 3);
        subject[k] = k >= 25 ? 310.0 + (k % 2) : 101.0;
        flat[k] = 100.0 + (k % 2);
    }
    subject[5] = NAN; /* a window without a value */
    dxt_timeline_series s[2] = {
        {"slow_source rank 4", WINDOWS, steps, subject, peers, 2500},
        {"slow_path 9->2", WINDOWS, steps, peers, flat, INT64_MIN},
    };
    dxt_plot_opts o;
    dxt_plot_opts_init(&o);
    o.run_id = "r";
    o.op = "dispatch";
    tmp_path(path, sizeof path, "timeline.png");
    assert_int_equal(dxt_plot_timeline(path, s, 2, NULL, &o, err, sizeof err), DXT_PLOT_OK);
    assert_int_equal(png_size(path, &w, &h), 0);
    assert_int_equal(w, 1000);
    assert_int_equal(h, 50 + 2 * 230);
    /* more series than panels: the first ones, still a picture */
    dxt_timeline_series many[12];
    for (int k = 0; k < 12; k++)
        many[k] = s[k % 2];
    assert_int_equal(dxt_plot_timeline(path, many, 12, NULL, &o, err, sizeof err), DXT_PLOT_OK);
    assert_int_equal(png_size(path, &w, &h), 0);
    assert_int_equal(h, 50 + DXT_TIMELINE_MAX_PANELS * 230);
    /* healthy: one panel, flat overall line, or nothing at all */
    dxt_timeline_series overall = {"all", WINDOWS, steps, flat, NULL, INT64_MIN};
    tmp_path(path, sizeof path, "timeline-healthy.png");
    assert_int_equal(dxt_plot_timeline(path, NULL, 0, &overall, &o, err, sizeof err),
                     DXT_PLOT_OK);
    assert_int_equal(png_size(path, &w, &h), 0);
    assert_int_equal(h, 50 + 230);
    assert_int_equal(dxt_plot_timeline(path, NULL, 0, NULL, &o, err, sizeof err), DXT_PLOT_OK);
    /* one window only */
    dxt_timeline_series one = {"one", 1, steps, subject, peers, 0};
    assert_int_equal(dxt_plot_timeline(path, &one, 1, NULL, &o, err, sizeof err), DXT_PLOT_OK);
}

/* The terminal view into a string. */
static char *show(int n, const double *m, dxt_plot_opts *o)
{
    char *text = NULL, err[256] = "";
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(dxt_show_heatmap(f, n, m, o, err, sizeof err), DXT_PLOT_OK);
    assert_int_equal(fclose(f), 0);
    return text;
}

/* The widest line of the matrix (lines with colors, but the legend's color
 * bar) once ANSI escapes are removed. */
static int visible_width(const char *text)
{
    int widest = 0, col = 0, colored = 0;
    for (const char *p = text; *p; p++) {
        if (p == text || p[-1] == '\n') {
            const char *eol = strchr(p, '\n');
            const char *esc = strchr(p, '\x1b');
            colored = esc && (!eol || esc < eol) && strncmp(p, "levels:", 7) != 0;
        }
        if (*p == '\x1b') {
            while (*p && *p != 'm')
                p++;
            if (!*p)
                break;
            continue;
        }
        if (*p == '\n') {
            widest = (colored && col > widest) ? col : widest;
            col = 0;
        } else {
            col++;
        }
    }
    return (colored && col > widest) ? col : widest;
}

static void test_show(void **state)
{
    (void)state;
    fixture fx;
    double *m = make_matrix(16, 5);
    fixture_init(&fx, 16, 5);
    fx.opts.term_width = 80;
    fx.opts.color_mode = DXT_COLOR_256;
    char *text = show(16, m, &fx.opts);
    assert_non_null(strstr(text, "\x1b[48;5;"));
    assert_null(strstr(text, "\x1b[48;2;"));
    assert_non_null(strstr(text, "slow_source rank 5"));
    assert_non_null(strstr(text, "^"));
    assert_true(visible_width(text) <= 80);
    free(text);
    fx.opts.color_mode = DXT_COLOR_TRUECOLOR;
    text = show(16, m, &fx.opts);
    assert_non_null(strstr(text, "\x1b[48;2;"));
    free(text);
    free(m);
    /* wider than the terminal: node blocks */
    m = make_matrix(1024, 21);
    fixture_init(&fx, 1024, 21);
    fx.opts.term_width = 140;
    fx.opts.term_height = 1000; /* the width decides */
    text = show(1024, m, &fx.opts);
    assert_non_null(strstr(text, "8x8 block of ranks (1 node)"));
    assert_true(visible_width(text) <= 140);
    free(text);
    fx.opts.term_width = 100;
    text = show(1024, m, &fx.opts);
    assert_non_null(strstr(text, "block of ranks (2 nodes)") ||
                    strstr(text, "block of ranks (3 nodes)"));
    assert_true(visible_width(text) <= 100);
    free(text);
    /* no topology, narrow terminal: blocks of ranks */
    fx.opts.topo = NULL;
    fx.opts.term_width = 40;
    text = show(1024, m, &fx.opts);
    assert_non_null(strstr(text, "block of ranks:"));
    assert_true(visible_width(text) <= 40);
    free(text);
    /* width from $COLUMNS when not given and not a terminal */
    fx.opts.term_width = 0;
    setenv("COLUMNS", "60", 1);
    text = show(1024, m, &fx.opts);
    unsetenv("COLUMNS");
    assert_true(visible_width(text) <= 60);
    free(text);
    /* fits the height: at most LINES lines */
    fixture_init(&fx, 1024, 21);
    fx.opts.term_width = 200;
    fx.opts.term_height = 60;
    text = show(1024, m, &fx.opts);
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_true(lines <= 60);
    free(text);
    /* plain: no escape at all, glyphs carry the levels, the slow column marked */
    fx.opts.plain = 1;
    text = show(1024, m, &fx.opts);
    assert_null(strchr(text, '\x1b'));
    assert_non_null(strstr(text, "@"));
    assert_non_null(strstr(text, "levels:"));
    assert_non_null(strstr(text, "^ slow_source rank 21"));
    free(text);
    free(m);
}

static void test_finding_label(void **state)
{
    (void)state;
    char buf[128];
    const char *names[] = {"node-a", "node-b"};
    int node_of[2] = {0, 1};
    dxt_topology t = {2, 2, node_of, names};
    dxt_finding f;
    memset(&f, 0, sizeof f);
    f.kind = DXT_SLOW_PATH;
    f.src = 9;
    f.dst = 2;
    dxt_finding_label(&f, NULL, buf, sizeof buf);
    assert_string_equal(buf, "slow_path 9->2");
    f.kind = DXT_SLOW_NODE;
    f.node = 1;
    f.as_source = 1;
    dxt_finding_label(&f, &t, buf, sizeof buf);
    assert_string_equal(buf, "slow_node node-b (as source)");
    f.kind = DXT_SLOW_DESTINATION;
    f.rank = 4;
    dxt_finding_label(&f, &t, buf, sizeof buf);
    assert_string_equal(buf, "slow_destination rank 4");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_heatmap_sizes),
        cmocka_unit_test(test_slow_source_pixels),
        cmocka_unit_test(test_zoom_panel),
        cmocka_unit_test(test_healthy_has_no_outline),
        cmocka_unit_test(test_injection),
        cmocka_unit_test(test_missing_gnuplot),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_timeline),
        cmocka_unit_test(test_show),
        cmocka_unit_test(test_finding_label),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
