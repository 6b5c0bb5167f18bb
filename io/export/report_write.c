/* report_write.c - the report's writers: Markdown, self-contained HTML with inline SVG
 * charts, and a short plain-text table for the terminal. See pq_report.h. */
#include "export_internal.h"
#include "pq_report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define WORST_K 10

#define SNR_TEXT                                                                        \
    "SNR is noise power over signal power, sum (q - f)^2 / sum f^2, as PPQ reports it: f is " \
    "the float value, q the value under quantized simulation; 0 is perfect, lower is "       \
    "better, 1 means the noise is as strong as the signal. Cosine is sum fq / sqrt(sum ff "  \
    "* sum qq). Graphwise: every layer quantized, so the error accumulated up to that "      \
    "layer. Layerwise: only that layer's quantization points enabled (its weights, its "     \
    "outputs, and its inputs that no producer quantizes), everything else float."

/* ------------------------------------------------------------------ small helpers */

/* A number for a table: "-" for NaN, "inf", else %.4g. */
static const char *num(double v, char *buf, size_t cap)
{
    if (isnan(v)) snprintf(buf, cap, "-");
    else if (isinf(v)) snprintf(buf, cap, v > 0 ? "inf" : "-inf");
    else snprintf(buf, cap, "%.4g", v);
    return buf;
}

/* Cosine with enough digits to tell 0.9999 from 0.99999. */
static const char *cosnum(double v, char *buf, size_t cap)
{
    if (isnan(v)) snprintf(buf, cap, "-");
    else snprintf(buf, cap, "%.6f", v);
    return buf;
}

static const char *range_str(int has, double lo, double hi, char *buf, size_t cap)
{
    if (!has) snprintf(buf, cap, "-");
    else snprintf(buf, cap, "[%.4g, %.4g]", lo, hi);
    return buf;
}

/* The data range of a histogram: "[lo, hi]", or "|x| in [0, hi]" when it counts
 * magnitudes. */
static const char *hist_range_str(const pq_report_hist *h, char *buf, size_t cap)
{
    if (h->n_bins > 0 && h->abs_values) snprintf(buf, cap, "|x| in [0, %.4g]", h->hi);
    else range_str(h->n_bins > 0, h->lo, h->hi, buf, cap);
    return buf;
}

static const char *or_unknown(const char *s) { return s && *s ? s : "unknown"; }

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static int utf8_len(const unsigned char *s)
{
    int n;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3;
    else if (c >= 0xF0 && c <= 0xF4) n = 4;
    else return 0;
    for (int k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return n;
}

/* Appends s escaped for HTML/XML text and attributes: & < > " ' as entities, control
 * characters and invalid UTF-8 bytes as '?'. max_chars > 0 keeps the last max_chars
 * characters, prefixed by "...". */
static pq_status put_html(pq__strbuf *b, const char *s, int max_chars, pq_err *err)
{
    pq_status st = PQ_OK;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    if (max_chars > 0) {
        int64_t chars = 0;
        for (const unsigned char *q = p; *q;) {
            int n = utf8_len(q);
            q += n ? n : 1;
            chars++;
        }
        if (chars > max_chars) {
            PQ_TRY(pq__strbuf_printf(b, err, "..."));
            for (int64_t skip = chars - (max_chars - 3); skip > 0; skip--) {
                int n = utf8_len(p);
                p += n ? n : 1;
            }
        }
    }
    for (; *p;) {
        int n = utf8_len(p);
        switch (*p) {
        case '&': PQ_TRY(pq__strbuf_printf(b, err, "&amp;")); break;
        case '<': PQ_TRY(pq__strbuf_printf(b, err, "&lt;")); break;
        case '>': PQ_TRY(pq__strbuf_printf(b, err, "&gt;")); break;
        case '"': PQ_TRY(pq__strbuf_printf(b, err, "&quot;")); break;
        case '\'': PQ_TRY(pq__strbuf_printf(b, err, "&#39;")); break;
        default:
            if (n == 0 || (*p < 0x20 && *p != '\n' && *p != '\t')) {
                PQ_TRY(pq__strbuf_printf(b, err, "?"));
                n = 1;
            } else {
                PQ_TRY(pq__strbuf_printf(b, err, "%.*s", n, (const char *)p));
            }
        }
        p += n ? n : 1;
    }
fail:
    return st;
}

/* Appends s for a Markdown table cell: | ` \ * escaped, HTML-significant characters as
 * entities, line breaks as spaces. Underscores stay (CommonMark does not emphasise
 * intraword ones, and names read better). */
static pq_status put_md(pq__strbuf *b, const char *s, pq_err *err)
{
    pq_status st = PQ_OK;
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '|': PQ_TRY(pq__strbuf_printf(b, err, "\\|")); break;
        case '`': PQ_TRY(pq__strbuf_printf(b, err, "\\`")); break;
        case '\\': PQ_TRY(pq__strbuf_printf(b, err, "\\\\")); break;
        case '*': PQ_TRY(pq__strbuf_printf(b, err, "\\*")); break;
        case '&': PQ_TRY(pq__strbuf_printf(b, err, "&amp;")); break;
        case '<': PQ_TRY(pq__strbuf_printf(b, err, "&lt;")); break;
        case '>': PQ_TRY(pq__strbuf_printf(b, err, "&gt;")); break;
        case '\n': case '\r': PQ_TRY(pq__strbuf_printf(b, err, " ")); break;
        default: PQ_TRY(pq__strbuf_printf(b, err, "%c", *p));
        }
    }
fail:
    return st;
}

static double total_seconds(const pq_report *r)
{
    double t = 0;
    for (int i = 0; i < r->n_phases; i++) t += r->phases[i].seconds;
    return t;
}

static int64_t n_quantized(const pq_report *r)
{
    int64_t n = 0;
    for (int i = 0; i < r->n_rows; i++) n += r->rows[i].quantized != 0;
    return n;
}

/* ------------------------------------------------------------------ Markdown */

static pq_status md_summary_line(pq__strbuf *b, const char *key, const char *val, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(pq__strbuf_printf(b, err, "| %s | ", key));
    PQ_TRY(put_md(b, or_unknown(val), err));
    PQ_TRY(pq__strbuf_printf(b, err, " |\n"));
fail:
    return st;
}

static pq_status md_row(pq__strbuf *b, const pq_report *r, int i, int rank, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_report_row *w = &r->rows[i];
    char a[32], c[32], d[32], e[32], f[64], g[64];
    PQ_TRY(pq__strbuf_printf(b, err, "| %d | ", rank));
    PQ_TRY(put_md(b, w->variable, err));
    PQ_TRY(pq__strbuf_printf(b, err, "%s | ", w->is_output ? " (output)" : ""));
    PQ_TRY(put_md(b, w->op_name, err));
    PQ_TRY(pq__strbuf_printf(b, err, " | "));
    PQ_TRY(put_md(b, w->op_type, err));
    PQ_TRY(pq__strbuf_printf(
        b, err, " | %s | %s | %s | %s | %s | %s |\n", num(w->graph_snr, a, sizeof a),
        cosnum(w->graph_cosine, c, sizeof c), num(w->layer_snr, d, sizeof d),
        cosnum(w->layer_cosine, e, sizeof e),
        hist_range_str(&w->hist, f, sizeof f),
        range_str(w->hist.has_clip, w->hist.clip_lo, w->hist.clip_hi, g, sizeof g)));
fail:
    return st;
}

#define MD_TABLE_HEAD                                                                        \
    "| # | variable | op | type | graphwise SNR | graphwise cosine | layerwise SNR | "        \
    "layerwise cosine | data range | clip range |\n"                                          \
    "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |\n"

pq_status pq_report_markdown(const pq_report *r, char **text, pq_err *err)
{
    pq_status st = PQ_OK;
    pq__strbuf b = {0};
    int worst[WORST_K];
    char buf[64];
    *text = NULL;
    PQ_TRY(pq__strbuf_printf(&b, err, "# Quantization report: "));
    PQ_TRY(put_md(&b, or_unknown(r->model), err));
    PQ_TRY(pq__strbuf_printf(&b, err, "\n\n## Run\n\n| | |\n| --- | --- |\n"));
    PQ_TRY(md_summary_line(&b, "model", r->model, err));
    PQ_TRY(md_summary_line(&b, "platform", r->platform, err));
    PQ_TRY(md_summary_line(&b, "dispatcher", r->dispatcher, err));
    PQ_TRY(md_summary_line(&b, "algorithm", r->algorithm, err));
    if (r->samples >= 0) snprintf(buf, sizeof buf, "%lld", (long long)r->samples);
    PQ_TRY(md_summary_line(&b, "calibration samples", r->samples >= 0 ? buf : NULL, err));
    if (r->world_size > 0) snprintf(buf, sizeof buf, "%d", r->world_size);
    PQ_TRY(md_summary_line(&b, "world size", r->world_size > 0 ? buf : NULL, err));
    if (r->eval_samples >= 0) snprintf(buf, sizeof buf, "%lld", (long long)r->eval_samples);
    PQ_TRY(md_summary_line(&b, "evaluated samples", r->eval_samples >= 0 ? buf : NULL, err));
    for (int i = 0; i < r->n_info; i++) {
        PQ_TRY(pq__strbuf_printf(&b, err, "| "));
        PQ_TRY(put_md(&b, r->info_keys[i], err));
        PQ_TRY(pq__strbuf_printf(&b, err, " | "));
        PQ_TRY(put_md(&b, r->info_values[i], err));
        PQ_TRY(pq__strbuf_printf(&b, err, " |\n"));
    }
    PQ_TRY(pq__strbuf_printf(&b, err, "| layers | %d (%lld quantized) |\n", r->n_rows,
                             (long long)n_quantized(r)));
    PQ_TRY(pq__strbuf_printf(&b, err, "| total time | %.3f s |\n\n%s\n\n", total_seconds(r),
                             SNR_TEXT));

    int nw = pq_report_worst(r, WORST_K, worst);
    PQ_TRY(pq__strbuf_printf(&b, err, "## The %d worst layers by graphwise SNR\n\n", nw));
    if (nw == 0) PQ_TRY(pq__strbuf_printf(&b, err, "No layer was measured.\n\n"));
    else {
        PQ_TRY(pq__strbuf_printf(&b, err, MD_TABLE_HEAD));
        for (int k = 0; k < nw; k++) PQ_TRY(md_row(&b, r, worst[k], k + 1, err));
        PQ_TRY(pq__strbuf_printf(&b, err, "\n"));
        if (r->hist_caption) {
            PQ_TRY(pq__strbuf_printf(&b, err, "Histograms (HTML report): "));
            PQ_TRY(put_md(&b, r->hist_caption, err));
            PQ_TRY(pq__strbuf_printf(&b, err, "\n\n"));
        }
        for (int k = 0; k < nw; k++) {
            const pq_report_row *w = &r->rows[worst[k]];
            if (!w->hist_note) continue;
            PQ_TRY(pq__strbuf_printf(&b, err, "- %d. ", k + 1));
            PQ_TRY(put_md(&b, w->variable, err));
            PQ_TRY(pq__strbuf_printf(&b, err, ": "));
            PQ_TRY(put_md(&b, w->hist_note, err));
            PQ_TRY(pq__strbuf_printf(&b, err, "\n%s", k + 1 == nw ? "\n" : ""));
        }
    }

    PQ_TRY(pq__strbuf_printf(&b, err, "## All layers (execution order)\n\n"));
    if (r->n_rows == 0) PQ_TRY(pq__strbuf_printf(&b, err, "No layers.\n\n"));
    else {
        PQ_TRY(pq__strbuf_printf(&b, err, MD_TABLE_HEAD));
        for (int i = 0; i < r->n_rows; i++) PQ_TRY(md_row(&b, r, i, i + 1, err));
        PQ_TRY(pq__strbuf_printf(&b, err, "\n"));
    }

    PQ_TRY(pq__strbuf_printf(&b, err,
                             "## Time per phase\n\n| phase | seconds |\n| --- | ---: |\n"));
    for (int i = 0; i < r->n_phases; i++) {
        PQ_TRY(pq__strbuf_printf(&b, err, "| "));
        PQ_TRY(put_md(&b, r->phases[i].name, err));
        PQ_TRY(pq__strbuf_printf(&b, err, " | %.3f |\n", r->phases[i].seconds));
    }
    PQ_TRY(pq__strbuf_printf(&b, err, "| **total** | %.3f |\n", total_seconds(r)));

    if (r->provenance) {
        /* A fence longer than any run of backquotes inside. */
        int run = 0, longest = 0;
        for (const char *p = r->provenance; *p; p++) {
            run = *p == '`' ? run + 1 : 0;
            if (run > longest) longest = run;
        }
        int fence = longest >= 3 ? longest + 1 : 3;
        PQ_TRY(pq__strbuf_printf(&b, err, "\n## Provenance\n\n%.*s\n%s\n%.*s\n", fence,
                                 "````````````````````````````````", r->provenance, fence,
                                 "````````````````````````````````"));
    }
    *text = b.s;
    return PQ_OK;
fail:
    pq__strbuf_free(&b);
    return st;
}

/* ------------------------------------------------------------------ terminal text */

pq_status pq_report_text(const pq_report *r, int k, char **text, pq_err *err)
{
    pq_status st = PQ_OK;
    pq__strbuf b = {0};
    int *worst = NULL;
    char a[32], c[32], d[32], e[32];
    *text = NULL;
    if (k <= 0) k = WORST_K;
    worst = pq_malloc((size_t)k * sizeof *worst);
    PQ_CHECK(worst, PQ_ERR_NOMEM, "report: out of memory");
    PQ_TRY(pq__strbuf_printf(&b, err, "Quantization report: %s on %s: %d layers (%lld quantized)",
                             or_unknown(r->model), or_unknown(r->platform), r->n_rows,
                             (long long)n_quantized(r)));
    if (r->eval_samples >= 0)
        PQ_TRY(pq__strbuf_printf(&b, err, ", %lld samples evaluated", (long long)r->eval_samples));
    PQ_TRY(pq__strbuf_printf(&b, err, "\nSNR = noise/signal power, sum (q-f)^2 / sum f^2 "
                                      "(0 is perfect, lower is better)\n"));
    int nw = pq_report_worst(r, k, worst);
    PQ_TRY(pq__strbuf_printf(&b, err, "Worst %d layers by graphwise SNR:\n", nw));
    PQ_TRY(pq__strbuf_printf(&b, err, "  %3s  %-32s %-12s %10s %10s %10s %10s\n", "#",
                             "variable", "type", "graph SNR", "graph cos", "layer SNR",
                             "layer cos"));
    for (int j = 0; j < nw; j++) {
        const pq_report_row *w = &r->rows[worst[j]];
        size_t len = strlen(w->variable);
        const char *v = len > 32 ? w->variable + len - 29 : w->variable;
        PQ_TRY(pq__strbuf_printf(&b, err, "  %3d  %s%-*s %-12.12s %10s %10s %10s %10s\n", j + 1,
                                 len > 32 ? "..." : "", len > 32 ? 29 : 32, v,
                                 w->op_type ? w->op_type : "-",
                                 num(w->graph_snr, a, sizeof a),
                                 cosnum(w->graph_cosine, c, sizeof c),
                                 num(w->layer_snr, d, sizeof d),
                                 cosnum(w->layer_cosine, e, sizeof e)));
    }
    for (int i = 0; i < r->n_rows; i++) {
        const pq_report_row *w = &r->rows[i];
        if (!w->is_output) continue;
        PQ_TRY(pq__strbuf_printf(&b, err, "Output '%s': graphwise SNR %s, cosine %s\n",
                                 w->variable, num(w->graph_snr, a, sizeof a),
                                 cosnum(w->graph_cosine, c, sizeof c)));
    }
    PQ_TRY(pq__strbuf_printf(&b, err, "Total time %.3f s", total_seconds(r)));
    for (int i = 0; i < r->n_phases; i++)
        PQ_TRY(pq__strbuf_printf(&b, err, "%s%s %.3f s", i ? ", " : " (", r->phases[i].name,
                                 r->phases[i].seconds));
    PQ_TRY(pq__strbuf_printf(&b, err, "%s\n", r->n_phases ? ")" : ""));
    pq_free(worst);
    *text = b.s;
    return PQ_OK;
fail:
    pq_free(worst);
    pq__strbuf_free(&b);
    return st;
}

/* ------------------------------------------------------------------ HTML */

static const char *CSS =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px;color:#1d2433;"
    "background:#fff;font-size:14px;line-height:1.4}"
    "h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px "
    "solid #d7dce5;padding-bottom:4px}"
    "table{border-collapse:collapse;margin:6px 0;font-size:13px}"
    "th,td{border:1px solid #d7dce5;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#eef1f6}td.n{text-align:right;font-family:'DejaVu Sans Mono',monospace;"
    "white-space:nowrap}"
    "td.v{font-family:'DejaVu Sans Mono',monospace;min-width:150px;max-width:300px;overflow-wrap:anywhere}"
    "tr.out td{font-weight:bold}"
    ".good{background:#e3f4e1}.fair{background:#fdf3d3}.bad{background:#fbdedb}"
    "p.note{max-width:1000px;color:#3d4657}"
    ".charts{display:flex;flex-wrap:wrap;gap:12px}"
    ".chart{border:1px solid #d7dce5;padding:6px}"
    "pre{background:#f5f7fa;border:1px solid #d7dce5;padding:8px;white-space:pre-wrap;"
    "overflow-wrap:anywhere;max-width:1100px}"
    "svg text{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif}";

/* A cell class by SNR: below 1% good, below 10% fair, else bad. */
static const char *snr_class(double s)
{
    if (isnan(s)) return "n";
    if (s < 0.01) return "n good";
    if (s < 0.1) return "n fair";
    return "n bad";
}

static pq_status html_row(pq__strbuf *b, const pq_report *r, int i, int rank, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_report_row *w = &r->rows[i];
    char a[32], c[32], d[32], e[32], f[64], g[64];
    PQ_TRY(pq__strbuf_printf(b, err, "<tr%s><td class=\"n\">%d</td><td class=\"v\">",
                             w->is_output ? " class=\"out\"" : "", rank));
    PQ_TRY(put_html(b, w->variable, 0, err));
    PQ_TRY(pq__strbuf_printf(b, err, "%s</td><td class=\"v\">", w->is_output ? " (output)" : ""));
    PQ_TRY(put_html(b, w->op_name, 0, err));
    PQ_TRY(pq__strbuf_printf(b, err, "</td><td>"));
    PQ_TRY(put_html(b, w->op_type, 0, err));
    PQ_TRY(pq__strbuf_printf(
        b, err,
        "</td><td class=\"%s\">%s</td><td class=\"n\">%s</td><td class=\"%s\">%s</td>"
        "<td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
        snr_class(w->graph_snr), num(w->graph_snr, a, sizeof a),
        cosnum(w->graph_cosine, c, sizeof c), snr_class(w->layer_snr),
        num(w->layer_snr, d, sizeof d), cosnum(w->layer_cosine, e, sizeof e),
        hist_range_str(&w->hist, f, sizeof f),
        range_str(w->hist.has_clip, w->hist.clip_lo, w->hist.clip_hi, g, sizeof g)));
fail:
    return st;
}

#define HTML_TABLE_HEAD                                                                     \
    "<table><thead><tr><th>#</th><th>variable</th><th>op</th><th>type</th>"                 \
    "<th>graphwise SNR</th><th>graphwise cosine</th><th>layerwise SNR</th>"                 \
    "<th>layerwise cosine</th><th>data range</th><th>clip range</th></tr></thead><tbody>\n"

/* Horizontal bars of graphwise and layerwise SNR per row, log10 axis. */
static pq_status svg_snr_chart(pq__strbuf *b, const pq_report *r, pq_err *err)
{
    pq_status st = PQ_OK;
    const double label_w = 300, x0 = 310, x1 = 1040, top = 40, row_h = 18;
    double mn = INFINITY, mx = -INFINITY;
    for (int i = 0; i < r->n_rows; i++) {
        double v[2] = {r->rows[i].graph_snr, r->rows[i].layer_snr};
        for (int k = 0; k < 2; k++)
            if (isfinite(v[k]) && v[k] > 0) {
                mn = fmin(mn, v[k]);
                mx = fmax(mx, v[k]);
            }
    }
    if (!(mn <= mx)) mn = mx = 1e-3;
    int dlo = (int)floor(log10(mn)), dhi = (int)ceil(log10(mx));
    if (dlo < -12) dlo = -12;
    if (dhi > 3) dhi = 3;
    if (dhi <= dlo) dhi = dlo + 1;
    double h = top + row_h * r->n_rows + 30, span = dhi - dlo;
    PQ_TRY(pq__strbuf_printf(b, err,
                             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1060\" "
                             "height=\"%.0f\" viewBox=\"0 0 1060 %.0f\" role=\"img\">\n"
                             "<rect x=\"0\" y=\"0\" width=\"1060\" height=\"%.0f\" "
                             "fill=\"#ffffff\"/>\n",
                             h, h, h));
    /* Legend. */
    PQ_TRY(pq__strbuf_printf(
        b, err,
        "<rect x=\"%.0f\" y=\"8\" width=\"14\" height=\"10\" fill=\"#3b6fb6\"/>"
        "<text x=\"%.0f\" y=\"17\" font-size=\"12\">graphwise SNR (every layer quantized)</text>\n"
        "<rect x=\"%.0f\" y=\"8\" width=\"14\" height=\"10\" fill=\"#e08a2c\"/>"
        "<text x=\"%.0f\" y=\"17\" font-size=\"12\">layerwise SNR (only this layer)</text>\n"
        "<text x=\"%.0f\" y=\"17\" font-size=\"12\" text-anchor=\"end\" fill=\"#555\">"
        "noise/signal power, log scale</text>\n",
        x0, x0 + 18, x0 + 270, x0 + 288, x1));
    /* Decade grid. */
    for (int d = dlo; d <= dhi; d++) {
        double x = x0 + (x1 - x0) * (d - dlo) / span;
        PQ_TRY(pq__strbuf_printf(b, err,
                                 "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
                                 "stroke=\"#d7dce5\"/><text x=\"%.1f\" y=\"%.0f\" "
                                 "font-size=\"11\" text-anchor=\"middle\">1e%d</text>\n",
                                 x, top - 6, x, h - 24, x, h - 10, d));
    }
    for (int i = 0; i < r->n_rows; i++) {
        const pq_report_row *w = &r->rows[i];
        double y = top + row_h * i;
        PQ_TRY(pq__strbuf_printf(b, err,
                                 "<text x=\"%.0f\" y=\"%.1f\" font-size=\"11\" "
                                 "text-anchor=\"end\"%s>",
                                 label_w, y + 12, w->is_output ? " font-weight=\"bold\"" : ""));
        PQ_TRY(put_html(b, w->variable, 44, err));
        PQ_TRY(pq__strbuf_printf(b, err, "</text>\n"));
        double v[2] = {w->graph_snr, w->layer_snr};
        const char *color[2] = {"#3b6fb6", "#e08a2c"}, *what[2] = {"graphwise", "layerwise"};
        for (int k = 0; k < 2; k++) {
            char a[32];
            if (isnan(v[k])) continue;
            double len;
            if (v[k] <= 0) len = 0;
            else if (isinf(v[k])) len = x1 - x0;
            else {
                double t = (log10(v[k]) - dlo) / span;
                len = (x1 - x0) * fmin(1.0, fmax(0.0, t));
            }
            if (len < 1) len = 1;
            PQ_TRY(pq__strbuf_printf(b, err,
                                     "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" height=\"7\" "
                                     "fill=\"%s\"><title>",
                                     x0, y + 2 + 8 * k, len, color[k]));
            PQ_TRY(put_html(b, w->variable, 0, err));
            PQ_TRY(pq__strbuf_printf(b, err, ": %s SNR %s</title></rect>\n", what[k],
                                     num(v[k], a, sizeof a)));
        }
    }
    PQ_TRY(pq__strbuf_printf(b, err, "</svg>\n"));
fail:
    return st;
}

/* The histogram of one row (log10(1 + count) bars, at most 120 of them) with its clip
 * range as red dashed lines and its data range and zero marked on the axis. */
static pq_status svg_hist(pq__strbuf *b, const pq_report_row *w, int rank, pq_err *err)
{
    pq_status st = PQ_OK;
    const double W = 540, H = 210, x0 = 40, x1 = 525, y0 = 36, y1 = 170;
    const pq_report_hist *hs = &w->hist;
    char a[32], c[32];
    PQ_TRY(pq__strbuf_printf(b, err,
                             "<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
                             "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                             "role=\"img\">\n<rect x=\"0\" y=\"0\" width=\"%.0f\" "
                             "height=\"%.0f\" fill=\"#ffffff\"/>\n"
                             "<text x=\"8\" y=\"16\" font-size=\"12\" font-weight=\"bold\">%d. ",
                             W, H, W, H, W, H, rank));
    PQ_TRY(put_html(b, w->variable, 46, err));
    PQ_TRY(pq__strbuf_printf(b, err, " (graphwise SNR %s)</text>\n",
                             num(w->graph_snr, a, sizeof a)));
    if (hs->n_bins <= 0) {
        PQ_TRY(pq__strbuf_printf(b, err, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">",
                                 x0, (y0 + y1) / 2));
        PQ_TRY(put_html(b, w->hist_note ? w->hist_note : "no histogram recorded", 90, err));
        PQ_TRY(pq__strbuf_printf(b, err, "</text>\n</svg></div>\n"));
        return PQ_OK;
    }
    if (w->hist_note) {
        PQ_TRY(pq__strbuf_printf(b, err, "<text x=\"8\" y=\"29\" font-size=\"10\" "
                                         "fill=\"#555\">"));
        PQ_TRY(put_html(b, w->hist_note, 100, err));
        PQ_TRY(pq__strbuf_printf(b, err, "</text>\n"));
    }
    /* A histogram of |x| shows the clip range as its magnitude bound only. */
    double amag = fmax(fabs(hs->clip_lo), fabs(hs->clip_hi));
    double lo = hs->lo, hi = hs->hi;
    if (hs->has_clip && hs->abs_values) {
        hi = fmax(hi, amag);
    } else if (hs->has_clip) {
        lo = fmin(lo, hs->clip_lo);
        hi = fmax(hi, hs->clip_hi);
    }
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    double pad = (hi - lo) * 0.03;
    lo -= pad;
    hi += pad;
#define XOF(v) (x0 + (x1 - x0) * ((v) - lo) / (hi - lo))
    int64_t group = (hs->n_bins + 119) / 120, nd = (hs->n_bins + group - 1) / group, cmax = 0;
    for (int64_t k = 0; k < nd; k++) {
        int64_t s = 0;
        for (int64_t j = k * group; j < (k + 1) * group && j < hs->n_bins; j++) s += hs->counts[j];
        if (s > cmax) cmax = s;
    }
    double lmax = log10(1.0 + (double)cmax), bw = (hs->hi - hs->lo) / (double)hs->n_bins;
    PQ_TRY(pq__strbuf_printf(b, err,
                             "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" "
                             "stroke=\"#1d2433\"/>\n",
                             x0, y1, x1, y1));
    for (int64_t k = 0; k < nd; k++) {
        int64_t s = 0, j0 = k * group, j1 = (k + 1) * group;
        if (j1 > hs->n_bins) j1 = hs->n_bins;
        for (int64_t j = j0; j < j1; j++) s += hs->counts[j];
        if (s == 0) continue;
        double xa = XOF(hs->lo + bw * (double)j0), xb = XOF(hs->lo + bw * (double)j1);
        double bh = lmax > 0 ? (y1 - y0) * log10(1.0 + (double)s) / lmax : 0;
        if (xb - xa < 0.8) xb = xa + 0.8;
        PQ_TRY(pq__strbuf_printf(b, err,
                                 "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                                 "fill=\"#3b6fb6\"/>\n",
                                 xa, y1 - bh, xb - xa, bh));
    }
    /* Axis labels: the data range ends and zero. */
    double ticks[3] = {hs->lo, hs->hi, 0.0};
    for (int k = 0; k < 3; k++) {
        if (k == 2 && (0.0 <= lo || 0.0 >= hi || hs->lo == 0.0 || hs->hi == 0.0)) continue;
        if (k == 1 && hs->hi == hs->lo) continue;
        double x = XOF(ticks[k]);
        PQ_TRY(pq__strbuf_printf(b, err,
                                 "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
                                 "stroke=\"#1d2433\"/><text x=\"%.1f\" y=\"%.0f\" "
                                 "font-size=\"11\" text-anchor=\"%s\">%s</text>\n",
                                 x, y1, x, y1 + 5, x, y1 + 17,
                                 k == 0 ? "start" : k == 1 ? "end" : "middle",
                                 num(ticks[k], a, sizeof a)));
    }
    if (hs->has_clip) {
        double xs[2] = {XOF(hs->clip_lo), XOF(hs->clip_hi)};
        if (hs->abs_values) xs[0] = xs[1] = XOF(amag);
        for (int k = hs->abs_values ? 1 : 0; k < 2; k++)
            PQ_TRY(pq__strbuf_printf(b, err,
                                     "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
                                     "stroke=\"#d0312d\" stroke-width=\"2\" "
                                     "stroke-dasharray=\"5,3\"/>\n",
                                     xs[k], y0 - 6, xs[k], y1));
        PQ_TRY(pq__strbuf_printf(b, err,
                                 "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" fill=\"#d0312d\">"
                                 "clip range [%s, %s]</text>\n",
                                 x0, H - 8, num(hs->clip_lo, a, sizeof a),
                                 num(hs->clip_hi, c, sizeof c)));
    }
    PQ_TRY(pq__strbuf_printf(b, err,
                             "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\" "
                             "fill=\"#555\">%lld bins%s, log(1 + count)</text>\n</svg></div>\n",
                             x1, H - 8, (long long)hs->n_bins, hs->abs_values ? " of |x|" : ""));
#undef XOF
fail:
    return st;
}

static pq_status html_summary_line(pq__strbuf *b, const char *key, const char *val, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(pq__strbuf_printf(b, err, "<tr><th>%s</th><td>", key));
    PQ_TRY(put_html(b, or_unknown(val), 0, err));
    PQ_TRY(pq__strbuf_printf(b, err, "</td></tr>\n"));
fail:
    return st;
}

pq_status pq_report_html(const pq_report *r, char **text, pq_err *err)
{
    pq_status st = PQ_OK;
    pq__strbuf b = {0};
    int worst[WORST_K];
    char buf[64];
    *text = NULL;
    PQ_TRY(pq__strbuf_printf(&b, err,
                             "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" "
                             "lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>"
                             "Quantization report: "));
    PQ_TRY(put_html(&b, or_unknown(r->model), 0, err));
    PQ_TRY(pq__strbuf_printf(&b, err, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>"
                                      "Quantization report: ", CSS));
    PQ_TRY(put_html(&b, or_unknown(r->model), 0, err));
    PQ_TRY(pq__strbuf_printf(&b, err, "</h1>\n<h2>Run</h2>\n<table>\n"));
    PQ_TRY(html_summary_line(&b, "model", r->model, err));
    PQ_TRY(html_summary_line(&b, "platform", r->platform, err));
    PQ_TRY(html_summary_line(&b, "dispatcher", r->dispatcher, err));
    PQ_TRY(html_summary_line(&b, "algorithm", r->algorithm, err));
    if (r->samples >= 0) snprintf(buf, sizeof buf, "%lld", (long long)r->samples);
    PQ_TRY(html_summary_line(&b, "calibration samples", r->samples >= 0 ? buf : NULL, err));
    if (r->world_size > 0) snprintf(buf, sizeof buf, "%d", r->world_size);
    PQ_TRY(html_summary_line(&b, "world size", r->world_size > 0 ? buf : NULL, err));
    if (r->eval_samples >= 0) snprintf(buf, sizeof buf, "%lld", (long long)r->eval_samples);
    PQ_TRY(html_summary_line(&b, "evaluated samples", r->eval_samples >= 0 ? buf : NULL, err));
    for (int i = 0; i < r->n_info; i++) {
        PQ_TRY(pq__strbuf_printf(&b, err, "<tr><th>"));
        PQ_TRY(put_html(&b, r->info_keys[i], 0, err));
        PQ_TRY(pq__strbuf_printf(&b, err, "</th><td>"));
        PQ_TRY(put_html(&b, r->info_values[i], 0, err));
        PQ_TRY(pq__strbuf_printf(&b, err, "</td></tr>\n"));
    }
    snprintf(buf, sizeof buf, "%d (%lld quantized)", r->n_rows, (long long)n_quantized(r));
    PQ_TRY(html_summary_line(&b, "layers", buf, err));
    snprintf(buf, sizeof buf, "%.3f s", total_seconds(r));
    PQ_TRY(html_summary_line(&b, "total time", buf, err));
    PQ_TRY(pq__strbuf_printf(&b, err, "</table>\n<p class=\"note\">%s</p>\n", SNR_TEXT));

    int nw = pq_report_worst(r, WORST_K, worst);
    PQ_TRY(pq__strbuf_printf(&b, err, "<h2>The %d worst layers by graphwise SNR</h2>\n", nw));
    if (nw > 0) {
        PQ_TRY(pq__strbuf_printf(&b, err, HTML_TABLE_HEAD));
        for (int k = 0; k < nw; k++) PQ_TRY(html_row(&b, r, worst[k], k + 1, err));
        PQ_TRY(pq__strbuf_printf(&b, err, "</tbody></table>\n"));
    } else {
        PQ_TRY(pq__strbuf_printf(&b, err, "<p>No layer was measured.</p>\n"));
    }

    if (r->n_rows > 0) {
        PQ_TRY(pq__strbuf_printf(&b, err, "<h2>SNR per layer (execution order)</h2>\n"));
        PQ_TRY(svg_snr_chart(&b, r, err));
    }
    if (nw > 0) {
        PQ_TRY(pq__strbuf_printf(&b, err,
                                 "<h2>Activation histograms of the worst layers</h2>\n<p "
                                 "class=\"note\">"));
        if (r->hist_caption) PQ_TRY(put_html(&b, r->hist_caption, 0, err));
        else
            PQ_TRY(pq__strbuf_printf(&b, err, "Float values seen in the analysis; the red dashed "
                                              "lines are the clip range the quantizer "
                                              "represents."));
        PQ_TRY(pq__strbuf_printf(&b, err, "</p>\n<div class=\"charts\">\n"));
        for (int k = 0; k < nw; k++) PQ_TRY(svg_hist(&b, &r->rows[worst[k]], k + 1, err));
        PQ_TRY(pq__strbuf_printf(&b, err, "</div>\n"));
    }

    PQ_TRY(pq__strbuf_printf(&b, err, "<h2>All layers (execution order)</h2>\n"));
    if (r->n_rows > 0) {
        PQ_TRY(pq__strbuf_printf(&b, err, HTML_TABLE_HEAD));
        for (int i = 0; i < r->n_rows; i++) PQ_TRY(html_row(&b, r, i, i + 1, err));
        PQ_TRY(pq__strbuf_printf(&b, err, "</tbody></table>\n"));
    } else {
        PQ_TRY(pq__strbuf_printf(&b, err, "<p>No layers.</p>\n"));
    }

    PQ_TRY(pq__strbuf_printf(&b, err, "<h2>Time per phase</h2>\n<table><thead><tr><th>phase"
                                      "</th><th>seconds</th></tr></thead><tbody>\n"));
    for (int i = 0; i < r->n_phases; i++) {
        PQ_TRY(pq__strbuf_printf(&b, err, "<tr><td>"));
        PQ_TRY(put_html(&b, r->phases[i].name, 0, err));
        PQ_TRY(pq__strbuf_printf(&b, err, "</td><td class=\"n\">%.3f</td></tr>\n",
                                 r->phases[i].seconds));
    }
    PQ_TRY(pq__strbuf_printf(&b, err, "<tr><th>total</th><td class=\"n\">%.3f</td></tr>\n"
                                      "</tbody></table>\n", total_seconds(r)));
    if (r->provenance) {
        PQ_TRY(pq__strbuf_printf(&b, err, "<h2>Provenance</h2>\n<pre>"));
        PQ_TRY(put_html(&b, r->provenance, 0, err));
        PQ_TRY(pq__strbuf_printf(&b, err, "</pre>\n"));
    }
    PQ_TRY(pq__strbuf_printf(&b, err, "</body>\n</html>\n"));
    *text = b.s;
    return PQ_OK;
fail:
    pq__strbuf_free(&b);
    return st;
}

/* ------------------------------------------------------------------ files */

static pq_status save(const pq_report *r, const char *path, int html, pq_err *err)
{
    char *text = NULL;
    pq_status st = html ? pq_report_html(r, &text, err) : pq_report_markdown(r, &text, err);
    if (st == PQ_OK) st = pq__export_write_atomic(path, text, strlen(text), err);
    else pq_err_prefix(err, "%s", path);
    pq_free(text);
    return st;
}

pq_status pq_report_save_markdown(const pq_report *r, const char *path, pq_err *err)
{
    return save(r, path, 0, err);
}

pq_status pq_report_save_html(const pq_report *r, const char *path, pq_err *err)
{
    return save(r, path, 1, err);
}
