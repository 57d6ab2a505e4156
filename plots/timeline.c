/* timeline.c - the timeline PNG of one op: per flagged subject, its wait per
 * window against the median of its peers, onset marked; one panel each,
 * y from 0 so that a healthy run looks flat. The data (one number per window)
 * goes inline as text. Owned by the plots engineer (plots/). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plot_internal.h"

#define TIMELINE_WIDTH 1000
#define TIMELINE_PANEL_PX 230
#define TIMELINE_TITLE_PX 50
#define TIMELINE_MAX_WINDOWS 10000000
#define SUBJECT_COLOR "#d73027"
#define PEERS_COLOR "#4575b4" /* red and blue: apart for every kind of color blindness */
#define ONSET_COLOR "#202020"

static int series_ok(const dxt_timeline_series *s)
{
    if (s->nwin < 0 || s->nwin > TIMELINE_MAX_WINDOWS)
        return 0;
    return s->nwin == 0 || (s->first_steps && (s->subject || s->peers));
}

static void series_range(const dxt_timeline_series *s, double *ymax, int64_t *x0, int64_t *x1)
{
    for (int w = 0; w < s->nwin; w++) {
        double a = s->subject ? s->subject[w] : NAN, b = s->peers ? s->peers[w] : NAN;
        if (isfinite(a) && a > *ymax)
            *ymax = a;
        if (isfinite(b) && b > *ymax)
            *ymax = b;
        if (s->first_steps[w] < *x0)
            *x0 = s->first_steps[w];
        if (s->first_steps[w] > *x1)
            *x1 = s->first_steps[w];
    }
}

static void data_block(plot_buf *b, const dxt_timeline_series *s, const double *values)
{
    for (int w = 0; w < s->nwin; w++) {
        if (values && isfinite(values[w]))
            pb_printf(b, "%lld %.9g\n", (long long)s->first_steps[w], values[w]);
        else
            pb_printf(b, "%lld ?\n", (long long)s->first_steps[w]);
    }
    pb_printf(b, "e\n");
}

/* One panel; title_text NULL: the series' label. healthy: gray, no peers. */
static void panel(plot_buf *b, const dxt_timeline_series *s, const char *title_text,
                  const char *unit, int healthy)
{
    double ymax = 0;
    int64_t x0 = INT64_MAX, x1 = INT64_MIN;
    const char *style = s->nwin <= 60 ? "linespoints pt 7 ps 0.6" : "lines";
    series_range(s, &ymax, &x0, &x1);
    if (s->nwin == 0 || x0 >= x1) {
        x0 = s->nwin ? x0 - 1 : 0;
        x1 = s->nwin ? x1 + 1 : 1;
    }
    pb_printf(b, "unset arrow\nunset label\nset title ");
    pb_quoted(b, title_text ? title_text : s->label);
    pb_printf(b, "\nset xrange [%lld:%lld]\nset yrange [0:%.9g]\nset ylabel ", (long long)x0,
              (long long)x1, ymax > 0 ? ymax * 1.15 : 1.0);
    pb_quoted(b, unit);
    pb_printf(b, "\n");
    if (!healthy && s->onset_step != INT64_MIN) {
        pb_printf(b, "set arrow from %lld, graph 0 to %lld, graph 1 nohead front dt 3 lw 1.5 "
                     "lc rgb '%s'\n", (long long)s->onset_step, (long long)s->onset_step,
                  ONSET_COLOR);
        pb_printf(b, "set label 'onset step %lld' at %lld, graph 0.08 offset 0.6,0 left "
                     "textcolor rgb '%s'\n", (long long)s->onset_step,
                  (long long)s->onset_step, ONSET_COLOR);
    }
    if (s->nwin == 0) {
        pb_printf(b, "set label 'no data' at graph 0.5, graph 0.5 center\nplot NaN notitle\n");
        return;
    }
    if (healthy) {
        pb_printf(b, "plot '-' using 1:2 with %s lw 2 lc rgb '#606060' title ", style);
        pb_quoted(b, s->label && s->label[0] ? s->label : "wait");
        pb_printf(b, "\n");
        data_block(b, s, s->subject ? s->subject : s->peers);
        return;
    }
    pb_printf(b, "plot '-' using 1:2 with %s lw 2 lc rgb '%s' title 'subject', "
                 "'-' using 1:2 with %s dt 2 lw 2 lc rgb '%s' title 'median of its peers'\n",
              style, SUBJECT_COLOR, style, PEERS_COLOR);
    data_block(b, s, s->subject);
    data_block(b, s, s->peers);
}

dxt_plot_rc dxt_plot_timeline(const char *png_path, const dxt_timeline_series *series,
                              int nseries, const dxt_timeline_series *overall,
                              const dxt_plot_opts *opts, char *err, size_t errlen)
{
    plot_buf b = {0};
    char text[512], unit[64];
    dxt_timeline_series empty = {"", 0, NULL, NULL, NULL, INT64_MIN};
    if (nseries < 0 || (nseries > 0 && !series))
        return plot_fail(DXT_PLOT_EINVAL, err, errlen, "timeline: bad series count %d", nseries);
    for (int k = 0; k < nseries; k++)
        if (!series_ok(&series[k]))
            return plot_fail(DXT_PLOT_EINVAL, err, errlen,
                             "timeline: series %d: bad window count %d or missing arrays", k,
                             series[k].nwin);
    if (overall && !series_ok(overall))
        return plot_fail(DXT_PLOT_EINVAL, err, errlen, "timeline: overall: bad series");
    if (plot_check_path(png_path, "timeline output", err, errlen) != 0)
        return DXT_PLOT_EINVAL;
    int panels = nseries > DXT_TIMELINE_MAX_PANELS ? DXT_TIMELINE_MAX_PANELS : nseries;
    int rows = panels > 0 ? panels : 1;
    snprintf(unit, sizeof(unit), "wait (%s)", opts && opts->unit ? opts->unit : "us");
    pb_printf(&b, "set terminal pngcairo size %d,%d noenhanced font 'sans,10'\nset output",
              TIMELINE_WIDTH, TIMELINE_TITLE_PX + rows * TIMELINE_PANEL_PX); /* stdout */
    snprintf(text, sizeof(text), "%s | run %s | wait per step, one point per window", opts && opts->op ? opts->op
             : "all ops", opts && opts->run_id ? opts->run_id : "?");
    if (nseries > panels) {
        size_t used = strlen(text);
        snprintf(text + used, sizeof(text) - used, " | first %d of %d findings", panels, nseries);
    }
    pb_printf(&b, "\nset datafile missing '?'\nset key outside top right horizontal samplen 3\nset grid ytics\n"
                  "set xlabel 'step (window start)'\nset format x '%%.0f'\n"
                  "set lmargin 12\nset multiplot layout %d,1 title ", rows);
    pb_quoted(&b, text);
    pb_printf(&b, " font ',12'\n");
    for (int k = 0; k < panels; k++)
        panel(&b, &series[k], NULL, unit, 0);
    if (panels == 0)
        panel(&b, overall ? overall : &empty, "no findings: nothing stands out", unit, 1);
    pb_printf(&b, "unset multiplot\nunset output\nquit\n");
    dxt_plot_rc rc =
        plot_run_gnuplot(opts ? opts->gnuplot : NULL, &b, NULL, 0, NULL, png_path, err, errlen);
    pb_free(&b);
    return rc;
}
