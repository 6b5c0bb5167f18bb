/* test_export_report.c - the quantization report on the digits CNN: the calibration pipeline
 * (trt_int8, min/max on 128 training images), then pq_report_analyze on 120 test images.
 * The numbers are checked against independent computations: the graph output's SNR and
 * cosine from the float and simulated output tensors, every quantized variable against
 * pq_calib_evaluate, every layerwise figure against a graph copy whose other TQCs are
 * FP32. The Markdown and HTML files are checked for content and well-formedness (a tag
 * balance check here, and Python's XML parser when /usr/bin/python3 exists), and a failed
 * write (file size limit, allocation failure) must leave an existing file untouched and no
 * temporary file behind.
 *
 * With PQ_REPORT_OUT=DIR set, the report files are also written to DIR (used by
 * scripts/screenshot_report.sh). */
#include "calib/pq_calib.h"
#include "pq_h5.h"
#include "pq_onnx.h"
#include "pq_passes.h"
#include "pq_quant.h"
#include "pq_report.h"
#include "pq_test.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#define DIGITS PQ_SOURCE_DIR "/tests/fixtures/digits/"

/* ------------------------------------------------------------------ fixtures */

/* Batches of bs images (the first max samples of a split); caller frees with free_batches. */
static pq_status load_batches(const char *dataset, int64_t bs, int64_t max, pq_tensor ***out,
                              int64_t *n_batches, pq_err *err)
{
    pq_h5_input_spec s;
    pq_h5_reader *r = NULL;
    pq_h5_input_spec_init(&s, "images", dataset);
    *out = NULL;
    *n_batches = 0;
    pq_status st = pq_h5_reader_open(DIGITS "digits.h5", 1, &s, bs, max, PQ_H5_NAN_ERROR, NULL,
                                     &r, err);
    if (st != PQ_OK) return st;
    int64_t nb = pq_h5_reader_n_batches(r);
    pq_tensor **b = calloc((size_t)nb, sizeof *b);
    if (!b) st = pq_err_set(err, PQ_ERR_NOMEM, "test: out of memory");
    for (int64_t i = 0; i < nb && st == PQ_OK; i++) st = pq_h5_reader_read(r, i, &b[i], NULL, err);
    pq_h5_reader_close(&r);
    *out = b;
    *n_batches = nb;
    return st;
}

static void free_batches(pq_tensor **b, int64_t n)
{
    for (int64_t i = 0; b && i < n; i++) pq_tensor_destroy(&b[i]);
    free(b);
}

/* The digits CNN through format,fuse and the calibration pipeline. */
static pq_status calibrated_digits(pq_graph **g, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor **cal = NULL;
    int64_t nb = 0;
    pq_executor *ex = NULL;
    pq_calib_options o;
    pq_calib_memsource mem;
    pq_calib_source src;
    pq_calib_options_init(&o);
    o.platform = "trt_int8";
    o.activation_algo = "minmax";
    st = pq_onnx_load(DIGITS "digits_cnn.onnx", g, err);
    if (st == PQ_OK) st = pq_passes_run(*g, "format,fuse", NULL, err);
    if (st == PQ_OK) st = load_batches("/train/images", 32, 128, &cal, &nb, err);
    if (st == PQ_OK) st = pq_calib_quantize_graph(*g, &o, err);
    if (st == PQ_OK) st = pq_executor_create(*g, NULL, &ex, err);
    pq_calib_memsource_init(&mem, cal, NULL, nb, 1, &src);
    if (st == PQ_OK) st = pq_calib_run(*g, ex, &o, &src, NULL, NULL, err);
    pq_executor_destroy(&ex);
    free_batches(cal, nb);
    if (st != PQ_OK) pq_graph_destroy(g);
    return st;
}

static const pq_report_row *find_row(const pq_report *r, const char *var)
{
    for (int i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i].variable, var) == 0) return &r->rows[i];
    return NULL;
}

static int64_t op_index(const pq_graph *g, const char *name)
{
    for (int64_t k = 0; k < g->ops.n; k++)
        if (strcmp(((pq_op *)g->ops.items[k])->name, name) == 0) return k;
    return -1;
}

/* Runs one batch on ex, float or simulated (sim), returning output `name`. */
static pq_status run_one(pq_executor *ex, pq_qsim *sim, int quant, pq_tensor *x,
                         const char *name, pq_tensor **out, pq_err *err)
{
    const char *in = "images";
    if (sim) pq_qsim_enable(sim, quant);
    return pq_executor_run(ex, 1, &in, &x, 1, &name, out, err);
}

/* ------------------------------------------------------------------ file checks */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

/* Tags balance: every <name ...> is closed by </name> in order (self-closing <x/> and the
 * void <meta .../> included), no stray '<' or '&' outside tags and entities. Returns 1 when
 * well-formed, printing the first problem otherwise. */
static int tags_balanced(const char *s)
{
    char stack[256][32];
    int depth = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&') {
            const char *semi = strchr(p, ';');
            if (!semi || semi - p > 8) {
                fprintf(stderr, "bare '&' at offset %ld\n", (long)(p - s));
                return 0;
            }
            continue;
        }
        if (*p == '>') {
            fprintf(stderr, "bare '>' at offset %ld\n", (long)(p - s));
            return 0;
        }
        if (*p != '<') continue;
        const char *end = strchr(p, '>');
        if (!end) return 0;
        if (p[1] == '!') { /* doctype */
            p = end;
            continue;
        }
        int closing = p[1] == '/', self = end[-1] == '/';
        const char *n0 = p + 1 + closing, *n1 = n0;
        while (n1 < end && *n1 != ' ' && *n1 != '/' && *n1 != '\n') n1++;
        size_t len = (size_t)(n1 - n0);
        if (len == 0 || len >= 32) return 0;
        for (const char *q = p + 1; q < end; q++)
            if (*q == '<') {
                fprintf(stderr, "'<' inside a tag at offset %ld\n", (long)(q - s));
                return 0;
            }
        if (closing) {
            if (depth == 0 || strlen(stack[depth - 1]) != len ||
                strncmp(stack[depth - 1], n0, len) != 0) {
                fprintf(stderr, "unbalanced </%.*s> at offset %ld (open: %s)\n", (int)len, n0,
                        (long)(p - s), depth ? stack[depth - 1] : "none");
                return 0;
            }
            depth--;
        } else if (!self) {
            if (depth == 256) return 0;
            memcpy(stack[depth], n0, len);
            stack[depth++][len] = '\0';
        }
        p = end;
    }
    if (depth != 0) fprintf(stderr, "%d unclosed tags (innermost <%s>)\n", depth, stack[depth - 1]);
    return depth == 0;
}

/* 1 parses as XML with Python's expat and the HTML parser sees as many end tags as start
 * tags (void elements excepted), 0 fails, -1 no python. */
static int python_parses(const char *path)
{
    char cmd[2048];
    if (access("/usr/bin/python3", X_OK) != 0) return -1;
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"\n"
             "import sys, xml.etree.ElementTree as ET\n"
             "from html.parser import HTMLParser\n"
             "ET.parse(sys.argv[1])\n"
             "class P(HTMLParser):\n"
             "    def __init__(s):\n"
             "        super().__init__(); s.st = []\n"
             "    def handle_starttag(s, t, a):\n"
             "        s.st.append(t)\n"
             "    def handle_startendtag(s, t, a):\n"
             "        pass\n"
             "    def handle_endtag(s, t):\n"
             "        assert s.st and s.st[-1] == t, (t, s.st[-3:])\n"
             "        s.st.pop()\n"
             "p = P(); p.feed(open(sys.argv[1], encoding='utf-8').read()); p.close()\n"
             "assert not p.st, p.st\n"
             "\" '%s'",
             path);
    return system(cmd) == 0;
}

/* Number of directory entries other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* ------------------------------------------------------------------ report data */

PQ_TEST(report_rows_phases_worst)
{
    pq_err err = {0};
    pq_report r;
    pq_report_init(&r);
    const double snr[6] = {0.01, NAN, 0.5, 0.01, INFINITY, 0.0};
    int64_t counts[4] = {1, 2, 3, 4};
    for (int i = 0; i < 6; i++) {
        char name[16];
        pq_report_row row;
        memset(&row, 0, sizeof row);
        snprintf(name, sizeof name, "v%d", i);
        row.variable = name;
        row.op_name = "op";
        row.op_type = "Conv";
        row.graph_snr = snr[i];
        row.graph_cosine = row.layer_snr = row.layer_cosine = NAN;
        row.hist.n_bins = 4;
        row.hist.counts = counts;
        row.hist.lo = -1;
        row.hist.hi = 1;
        PQ_EXPECT_OK(pq_report_add_row(&r, &row, &err), &err);
    }
    counts[0] = 99; /* the report holds a copy */
    PQ_EXPECT_EQ(r.rows[0].hist.counts[0], 1);
    int idx[10];
    int n = pq_report_worst(&r, 10, idx);
    PQ_EXPECT_EQ(n, 5); /* the NaN row is left out */
    const int expect[5] = {4, 2, 0, 3, 5}; /* inf, 0.5, 0.01 (row order), 0.01, 0 */
    for (int k = 0; k < n && k < 5; k++) PQ_EXPECT_EQ(idx[k], expect[k]);
    n = pq_report_worst(&r, 2, idx);
    PQ_EXPECT_EQ(n, 2);
    PQ_EXPECT_EQ(idx[0], 4);
    PQ_EXPECT_EQ(idx[1], 2);
    /* Refusals. */
    pq_report_row bad;
    memset(&bad, 0, sizeof bad);
    PQ_EXPECT_EQ(pq_report_add_row(&r, &bad, &err), PQ_ERR_INVALID);
    bad.variable = "x";
    bad.hist.n_bins = 3;
    PQ_EXPECT_EQ(pq_report_add_row(&r, &bad, &err), PQ_ERR_INVALID);
    PQ_EXPECT_EQ(r.n_rows, 6);
    /* Text output of a report with odd names: escaped in HTML, well-formed. */
    pq_report_summary s = {"m<&>\"'.onnx", "trt_int8", NULL, "minmax", "{\"a\": \"```\"}", 12, 2};
    PQ_EXPECT_OK(pq_report_set_summary(&r, &s, &err), &err);
    PQ_EXPECT_OK(pq_report_add_phase(&r, "calibration <pass 1>", 1.5, &err), &err);
    char *html = NULL, *md = NULL, *txt = NULL;
    PQ_EXPECT_OK(pq_report_html(&r, &html, &err), &err);
    PQ_EXPECT_OK(pq_report_markdown(&r, &md, &err), &err);
    PQ_EXPECT_OK(pq_report_text(&r, 3, &txt, &err), &err);
    PQ_EXPECT(html && tags_balanced(html));
    PQ_EXPECT_CONTAINS(html, "m&lt;&amp;&gt;&quot;&#39;.onnx");
    PQ_EXPECT_CONTAINS(html, "calibration &lt;pass 1&gt;");
    PQ_EXPECT_CONTAINS(md, "````\n{\"a\": \"```\"}\n````");
    PQ_EXPECT_CONTAINS(md, "| dispatcher | unknown |");
    PQ_EXPECT_CONTAINS(md, "| world size | 2 |");
    PQ_EXPECT_CONTAINS(txt, "Worst 3 layers");
    PQ_EXPECT_CONTAINS(txt, "Total time 1.500 s");
    pq_free(html);
    pq_free(md);
    pq_free(txt);
    pq_report_clear(&r);
    PQ_EXPECT_EQ(r.n_rows, 0);
    PQ_EXPECT_EQ(r.samples, -1);
}

/* ------------------------------------------------------------------ the digits report */

PQ_TEST(report_digits_numbers_and_files)
{
    pq_err err = {0};
    pq_graph *g = NULL, *cp = NULL;
    pq_executor *ex = NULL, *ex2 = NULL;
    pq_qsim *sim = NULL;
    pq_tensor **x = NULL, *f = NULL, *q = NULL;
    int64_t nb = 0;
    pq_report r;
    pq_calib_eval ev;
    char *md = NULL, *html = NULL, *txt = NULL, dir[64] = "/tmp/pq_report_XXXXXX";
    char mdp[256], htp[256];
    memset(&ev, 0, sizeof ev);
    pq_report_init(&r);
    PQ_EXPECT(mkdtemp(dir) != NULL);
    PQ_EXPECT_OK(calibrated_digits(&g, &err), &err);
    PQ_EXPECT_OK(load_batches("/test/images", 30, 120, &x, &nb, &err), &err);
    if (!g || !x) goto done;
    PQ_EXPECT_EQ(nb, 4);
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    if (!ex) goto done;

    pq_report_summary s = {"digits_cnn.onnx", "trt_int8", "conservative", "minmax",
                           "{\"seed\": 0, \"fixture\": \"tests/fixtures/digits\"}", 128, 1};
    PQ_EXPECT_OK(pq_report_set_summary(&r, &s, &err), &err);
    PQ_EXPECT_OK(pq_report_add_phase(&r, "calibration", 0.25, &err), &err);
    pq_report_analysis_options ao = {64, 0};
    PQ_EXPECT_OK(pq_report_analyze(&r, g, ex, 1, nb, x, &ao, &err), &err);
    PQ_EXPECT_EQ(r.eval_samples, 120);
    PQ_EXPECT_EQ(r.n_phases, 4);

    /* Every quantized variable is a row; rows follow graph order (graph inputs first). */
    int64_t n_quant_vars = 0, last = -1;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        for (int j = 0; j < op->n_outputs && j < op->qconfig->n_outputs; j++) {
            if (!pq_tqc_is_active(&op->qconfig->outputs[j])) continue;
            n_quant_vars++;
            const pq_report_row *w = find_row(&r, op->outputs[j]->name);
            PQ_EXPECT(w != NULL);
            if (w) PQ_EXPECT(w->quantized && w->hist.has_clip);
        }
    }
    PQ_EXPECT(n_quant_vars >= 10);
    const pq_report_row *in_row = find_row(&r, "images");
    PQ_EXPECT(in_row && in_row == &r.rows[0] && strcmp(in_row->op_type, "Input") == 0);
    printf("digits report: %d rows, %lld quantized op outputs\n", r.n_rows,
           (long long)n_quant_vars);
    for (int i = 1; i < r.n_rows; i++) {
        int64_t k = op_index(g, r.rows[i].op_name);
        PQ_EXPECT(k >= last);
        last = k;
    }
    /* Histograms hold every compared element; the clip range is the TQC's. */
    for (int i = 0; i < r.n_rows; i++) {
        const pq_report_row *w = &r.rows[i];
        int64_t sum = 0;
        for (int64_t k = 0; k < w->hist.n_bins; k++) sum += w->hist.counts[k];
        PQ_EXPECT_EQ(w->hist.n_bins, 64);
        PQ_EXPECT_EQ(sum, w->numel);
        PQ_EXPECT(w->hist.lo <= w->hist.hi);
        PQ_EXPECT(w->graph_snr >= 0 && w->graph_cosine <= 1.0 + 1e-12);
    }

    /* The graph output against the two output tensors, computed here. */
    const pq_report_row *out = find_row(&r, "logits");
    PQ_EXPECT(out && out->is_output);
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex2, &err), &err);
    PQ_EXPECT_OK(pq_qsim_create(ex2, &sim, &err), &err);
    long double noise = 0, sigp = 0, ff = 0, qq = 0, fq = 0;
    for (int64_t b = 0; b < nb && sim; b++) {
        PQ_EXPECT_OK(run_one(ex2, sim, 0, x[b], "logits", &f, &err), &err);
        PQ_EXPECT_OK(run_one(ex2, sim, 1, x[b], "logits", &q, &err), &err);
        for (int64_t i = 0; f && q && i < f->numel; i++) {
            long double a = PQ_DATA(f, float)[i], c = PQ_DATA(q, float)[i];
            noise += (c - a) * (c - a);
            sigp += a * a;
            ff += a * a;
            qq += c * c;
            fq += a * c;
        }
        pq_tensor_destroy(&f);
        pq_tensor_destroy(&q);
    }
    pq_qsim_destroy(&sim);
    double snr_ref = (double)(noise / sigp), cos_ref = (double)(fq / sqrtl(ff * qq));
    if (out) {
        printf("digits report: output SNR %.9g (independent %.9g), cosine %.9g (independent "
               "%.9g)\n", out->graph_snr, snr_ref, out->graph_cosine, cos_ref);
        PQ_EXPECT_NEAR(out->graph_snr, snr_ref, 1e-12 * snr_ref);
        PQ_EXPECT_NEAR(out->graph_cosine, cos_ref, 1e-12);
        PQ_EXPECT(out->graph_snr > 1e-6 && out->graph_snr < 0.1);
    }

    /* Every variable against the pipeline's evaluation: same sums, same order. */
    pq_calib_memsource mem;
    pq_calib_source src;
    pq_calib_eval_options eo = {nb, 1, 0};
    pq_calib_memsource_init(&mem, x, NULL, nb, 1, &src);
    PQ_EXPECT_OK(pq_calib_evaluate(g, ex2, &eo, &src, NULL, &ev, &err), &err);
    int matched = 0;
    for (int v = 0; v < ev.n_vars; v++) {
        const pq_report_row *w = find_row(&r, ev.vars[v].name);
        PQ_EXPECT(w != NULL);
        if (!w) continue;
        PQ_EXPECT(w->graph_snr == ev.vars[v].snr);
        PQ_EXPECT(w->graph_cosine == ev.vars[v].cosine);
        PQ_EXPECT_EQ(w->numel, ev.vars[v].numel);
        matched++;
    }
    PQ_EXPECT(matched >= 10);

    /* Layerwise: the first layer sees nothing quantized upstream, so it equals graphwise;
     * every layer equals a run of a copy whose other TQCs are FP32. */
    const pq_report_row *first = &r.rows[1];
    PQ_EXPECT(first->layer_snr == first->graph_snr && first->layer_snr > 0);
    PQ_EXPECT(in_row && in_row->layer_snr == in_row->graph_snr && in_row->graph_snr > 0);
    int checked = 0;
    for (int i = 1; i < r.n_rows; i++) {
        const pq_report_row *w = &r.rows[i];
        if (!w->quantized) {
            PQ_EXPECT(isnan(w->layer_snr));
            continue;
        }
        pq_executor *ex3 = NULL;
        pq_qsim *sim3 = NULL;
        double sums[3] = {0, 0, 0}; /* noise, signal, in double per batch as documented */
        PQ_EXPECT_OK(pq_graph_copy(g, 0, &cp, &err), &err);
        if (!cp) break;
        for (int64_t k = 0; k < cp->ops.n; k++) {
            pq_op *op = cp->ops.items[k];
            if (!op->qconfig || strcmp(op->name, w->op_name) == 0) continue;
            for (int t = 0; t < op->qconfig->n_inputs; t++)
                op->qconfig->inputs[t].state = PQ_TQC_STATE_FP32;
            for (int t = 0; t < op->qconfig->n_outputs; t++)
                op->qconfig->outputs[t].state = PQ_TQC_STATE_FP32;
        }
        PQ_EXPECT_OK(pq_executor_create(cp, NULL, &ex3, &err), &err);
        if (ex3) PQ_EXPECT_OK(pq_qsim_create(ex3, &sim3, &err), &err);
        for (int64_t b = 0; b < nb && sim3; b++) {
            PQ_EXPECT_OK(run_one(ex3, sim3, 0, x[b], w->variable, &f, &err), &err);
            PQ_EXPECT_OK(run_one(ex3, sim3, 1, x[b], w->variable, &q, &err), &err);
            double n0 = 0, s0 = 0;
            for (int64_t e = 0; f && q && e < f->numel; e++) {
                double a = PQ_DATA(f, float)[e], c = PQ_DATA(q, float)[e], d = c - a;
                n0 += d * d;
                s0 += a * a;
            }
            sums[0] += n0;
            sums[1] += s0;
            pq_tensor_destroy(&f);
            pq_tensor_destroy(&q);
        }
        pq_qsim_destroy(&sim3);
        pq_executor_destroy(&ex3);
        pq_graph_destroy(&cp);
        double ref = sums[0] / sums[1];
        PQ_EXPECT(w->layer_snr == ref);
        if (w->layer_snr != ref)
            fprintf(stderr, "layerwise %s: %.17g vs %.17g\n", w->variable, w->layer_snr, ref);
        checked++;
    }
    PQ_EXPECT(checked >= 10);

    /* Files. */
    snprintf(mdp, sizeof mdp, "%s/report.md", dir);
    snprintf(htp, sizeof htp, "%s/report.html", dir);
    PQ_EXPECT_OK(pq_report_save_markdown(&r, mdp, &err), &err);
    PQ_EXPECT_OK(pq_report_save_html(&r, htp, &err), &err);
    md = read_text(mdp);
    html = read_text(htp);
    PQ_EXPECT(md && html);
    if (!md || !html) goto done;
    PQ_EXPECT_CONTAINS(md, "# Quantization report: digits_cnn.onnx");
    PQ_EXPECT_CONTAINS(md, "noise power over signal power, sum (q - f)^2 / sum f^2");
    PQ_EXPECT_CONTAINS(md, "## The 10 worst layers by graphwise SNR");
    PQ_EXPECT_CONTAINS(md, "## Time per phase");
    PQ_EXPECT_CONTAINS(md, "| analysis: layerwise |");
    PQ_EXPECT_CONTAINS(md, "```\n{\"seed\": 0");
    PQ_EXPECT_CONTAINS(html, "noise power over signal power");
    PQ_EXPECT_CONTAINS(html, "<svg");
    PQ_EXPECT(tags_balanced(html));
    int py = python_parses(htp);
    PQ_EXPECT(py != 0);
    if (py < 0) printf("SKIP: /usr/bin/python3 not found: XML parse of the HTML skipped\n");
    /* Table lines: header + separator + one per row in "All layers", 10 in "worst". */
    int64_t table_lines = 0;
    for (const char *p = md; (p = strstr(p, "\n| ")); p++) table_lines++;
    printf("digits report: markdown %zu bytes, %lld table lines; html %zu bytes\n", strlen(md),
           (long long)table_lines, strlen(html));
    /* 11 summary lines, worst: 2 + 10, all: 2 + rows, phases: 2 + phases + total. */
    PQ_EXPECT_EQ(table_lines, 11 + 12 + 2 + r.n_rows + 2 + r.n_phases + 1);
    for (int i = 0; i < r.n_rows; i++) PQ_EXPECT_CONTAINS(html, r.rows[i].variable);
    /* The number of <svg> charts: the SNR chart and one histogram per worst layer. */
    int n_svg = 0;
    for (const char *p = html; (p = strstr(p, "<svg ")); p++) n_svg++;
    PQ_EXPECT_EQ(n_svg, 11);
    PQ_EXPECT_OK(pq_report_text(&r, 5, &txt, &err), &err);
    if (txt) {
        printf("%s", txt);
        PQ_EXPECT_CONTAINS(txt, "Output 'logits': graphwise SNR");
        int lines = 0;
        for (const char *p = txt; *p; p++) lines += *p == '\n';
        PQ_EXPECT_EQ(lines, 3 + 1 + 5 + 1 + 1);
    }
    const char *keep = getenv("PQ_REPORT_OUT");
    if (keep && *keep) {
        char p1[512], p2[512];
        snprintf(p1, sizeof p1, "%s/digits_report.html", keep);
        snprintf(p2, sizeof p2, "%s/digits_report.md", keep);
        PQ_EXPECT_OK(pq_report_save_html(&r, p1, &err), &err);
        PQ_EXPECT_OK(pq_report_save_markdown(&r, p2, &err), &err);
    }

    /* A write that fails (file size limit: write() returns EFBIG) leaves the old file and
     * no temporary file. */
    write_file(htp, "old\n");
    struct rlimit old_lim, lim;
    getrlimit(RLIMIT_FSIZE, &old_lim);
    lim = old_lim;
    lim.rlim_cur = 1000;
    signal(SIGXFSZ, SIG_IGN);
    PQ_EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    pq_status wst = pq_report_save_html(&r, htp, &err);
    setrlimit(RLIMIT_FSIZE, &old_lim);
    PQ_EXPECT_EQ(wst, PQ_ERR_IO);
    PQ_EXPECT_CONTAINS(err.msg, htp);
    char *after = read_text(htp);
    PQ_EXPECT(after && strcmp(after, "old\n") == 0);
    free(after);
    PQ_EXPECT_EQ(count_entries(dir), 2);
    /* Allocation failures anywhere in the writer: same guarantee. */
    int64_t failures = 0;
    for (int64_t n = 0; n < 10000; n++) {
        pq_alloc_fail_after(n);
        wst = pq_report_save_markdown(&r, htp, &err);
        pq_alloc_fail_after(-1);
        if (wst == PQ_OK) break;
        failures++;
        PQ_EXPECT_EQ(wst, PQ_ERR_NOMEM);
        after = read_text(htp);
        PQ_EXPECT(after && strcmp(after, "old\n") == 0);
        free(after);
        if (wst != PQ_ERR_NOMEM) break;
    }
    PQ_EXPECT(failures >= 3);
    PQ_EXPECT_EQ(count_entries(dir), 2);
    after = read_text(htp);
    PQ_EXPECT(after && strcmp(after, md) == 0); /* the successful write replaced it */
    free(after);
    /* A folder that does not exist: PQ_ERR_IO naming the file, nothing created. */
    PQ_EXPECT_EQ(pq_report_save_html(&r, "/nonexistent-dir/r.html", &err), PQ_ERR_IO);
    PQ_EXPECT_CONTAINS(err.msg, "/nonexistent-dir/r.html");

done:
    pq_calib_eval_clear(&ev);
    free(md);
    free(html);
    pq_free(txt);
    pq_report_clear(&r);
    pq_qsim_destroy(&sim);
    pq_executor_destroy(&ex2);
    pq_executor_destroy(&ex);
    free_batches(x, nb);
    pq_graph_destroy(&cp);
    pq_graph_destroy(&g);
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (strncmp(dir, "/tmp/pq_report_", 15) == 0 && system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
}

/* Analysis refusals: input count, NaN input (names the variable and the batch), baked
 * parameters; the report keeps what it had. */
PQ_TEST(report_analyze_refusals)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_tensor **x = NULL, *bad[2] = {NULL, NULL};
    pq_qstore *store = NULL;
    int64_t nb = 0;
    pq_report r;
    pq_report_init(&r);
    PQ_EXPECT_OK(calibrated_digits(&g, &err), &err);
    PQ_EXPECT_OK(load_batches("/test/images", 16, 32, &x, &nb, &err), &err);
    if (!g || !x) goto done;
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    if (!ex) goto done;
    PQ_EXPECT_EQ(pq_report_analyze(&r, g, ex, 2, nb, x, NULL, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "2 tensors per batch");
    PQ_EXPECT_EQ(pq_report_analyze(&r, g, ex, 1, 0, x, NULL, &err), PQ_ERR_INVALID);
    /* NaN in the second batch. */
    bad[0] = pq_tensor_retain(x[0]);
    PQ_EXPECT_OK(pq_tensor_clone(x[1], &bad[1], &err), &err);
    if (bad[1]) PQ_DATA(bad[1], float)[5] = NAN;
    PQ_EXPECT_OK(pq_report_add_phase(&r, "before", 1.0, &err), &err);
    PQ_EXPECT_EQ(pq_report_analyze(&r, g, ex, 1, 2, bad, NULL, &err), PQ_ERR_NUMERIC);
    PQ_EXPECT_CONTAINS(err.msg, "batch 1");
    PQ_EXPECT_CONTAINS(err.msg, "'images'");
    PQ_EXPECT_EQ(r.n_rows, 0);
    PQ_EXPECT_EQ(r.n_phases, 1);
    /* The executor's hooks were cleared: a plain run is float again. */
    PQ_EXPECT_OK(pq_report_analyze(&r, g, ex, 1, nb, x, &(pq_report_analysis_options){0, 1},
                                   &err), &err);
    PQ_EXPECT(r.n_rows > 0 && isnan(r.rows[r.n_rows - 1].layer_snr));
    PQ_EXPECT_EQ(r.rows[0].hist.n_bins, 128);
    /* Baked parameters. */
    PQ_EXPECT_OK(pq_qstore_create(&store, &err), &err);
    PQ_EXPECT_OK(pq_quant_bake(g, store, NULL, &err), &err);
    PQ_EXPECT_EQ(pq_report_analyze(&r, g, ex, 1, nb, x, NULL, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "baked");
done:
    pq_qstore_destroy(&store);
    pq_tensor_destroy(&bad[0]);
    pq_tensor_destroy(&bad[1]);
    pq_report_clear(&r);
    pq_executor_destroy(&ex);
    free_batches(x, nb);
    pq_graph_destroy(&g);
}

PQ_TEST_MAIN()
