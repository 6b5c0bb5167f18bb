/* h5_info.c - listing the datasets of a file (shape, dtype, chunks, filters) and per-channel
 * statistics of a dataset's first samples, for `ppq-calib data-info`. */
#include "h5_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct list_ctx {
    pq_h5_dataset_info *items;
    int n, cap;
    pq_status st;
    pq_err *err;
    const char *file;
} list_ctx;

static void describe_filters(hid_t dcpl, pq_h5_dataset_info *d)
{
    int nf = H5Pget_nfilters(dcpl);
    for (int f = 0; f < nf && d->n_filters < PQ_H5_MAX_FILTERS; f++) {
        unsigned flags = 0, cd[8] = {0}, fcfg = 0;
        size_t ncd = 8;
        char name[64] = {0};
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)f, &flags, &ncd, cd, sizeof name, name,
                                         &fcfg);
        char *out = d->filters[d->n_filters++];
        switch (id) {
        case H5Z_FILTER_DEFLATE: snprintf(out, 32, "gzip(%u)", ncd ? cd[0] : 0u); break;
        case H5Z_FILTER_SHUFFLE: snprintf(out, 32, "shuffle"); break;
        case H5Z_FILTER_FLETCHER32: snprintf(out, 32, "fletcher32"); break;
        case H5Z_FILTER_SZIP: snprintf(out, 32, "szip"); break;
        case H5Z_FILTER_NBIT: snprintf(out, 32, "nbit"); break;
        case H5Z_FILTER_SCALEOFFSET: snprintf(out, 32, "scaleoffset"); break;
        default: snprintf(out, 32, "filter%d(%.16s)", (int)id, name[0] ? name : "?"); break;
        }
    }
}

static herr_t visit_cb(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
    list_ctx *c = data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        pq_h5_dataset_info *items = pq_realloc(c->items, sizeof *items * (size_t)cap);
        if (!items) {
            c->st = pq_err_set(c->err, PQ_ERR_NOMEM, "out of memory");
            return -1;
        }
        c->items = items;
        c->cap = cap;
    }
    pq_h5_dataset_info *d = &c->items[c->n];
    memset(d, 0, sizeof *d);
    size_t len = strlen(name);
    d->path = pq_malloc(len + 2);
    if (!d->path) {
        c->st = pq_err_set(c->err, PQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    d->path[0] = '/';
    memcpy(d->path + 1, name, len + 1);
    c->n++;
    hid_t ds = H5Dopen2(obj, name, H5P_DEFAULT);
    if (ds < 0) {
        c->st = pq_err_set(c->err, PQ_ERR_IO, "%s: %s: cannot open dataset", c->file, d->path);
        pq__h5_append_stack(c->err);
        return -1;
    }
    hid_t space = H5Dget_space(ds), type = H5Dget_type(ds), dcpl = H5Dget_create_plist(ds);
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank > PQ_MAX_RANK) rank = PQ_MAX_RANK; /* shown truncated; the reader refuses it */
    if (rank > 0) {
        hsize_t hd[32];
        H5Sget_simple_extent_dims(space, hd, NULL);
        for (int k = 0; k < rank; k++) d->dims[k] = (int64_t)hd[k];
    }
    d->rank = rank < 0 ? 0 : rank;
    hid_t mt;
    int owned;
    d->dtype = pq__h5_map_type(type, &mt, &owned, d->type_desc, sizeof d->type_desc);
    if (owned) H5Tclose(mt);
    if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
        hsize_t cd[32];
        int cr = H5Pget_chunk(dcpl, 32, cd);
        d->chunked = 1;
        for (int k = 0; k < cr && k < PQ_MAX_RANK; k++) d->chunk[k] = (int64_t)cd[k];
        describe_filters(dcpl, d);
    }
    H5Pclose(dcpl);
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(ds);
    return 0;
}

pq_status pq_h5_list_datasets(const char *path, pq_h5_dataset_info **out, int *n_out,
                              pq_err *err)
{
    list_ctx c = {NULL, 0, 0, PQ_OK, err, path};
    *out = NULL;
    *n_out = 0;
    FILE *probe = fopen(path, "rb");
    if (!probe) return pq_err_set(err, PQ_ERR_IO, "%s: cannot open the data file", path);
    fclose(probe);
    pq__h5_lock();
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        pq__h5_unlock();
        return pq_err_set(err, PQ_ERR_FORMAT, "%s: not an HDF5 file", path);
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        pq_status st = pq_err_set(err, PQ_ERR_IO, "%s: cannot open the HDF5 file", path);
        pq__h5_append_stack(err);
        pq__h5_unlock();
        return st;
    }
    herr_t rc = H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &c);
    if (rc < 0 && c.st == PQ_OK) {
        c.st = pq_err_set(err, PQ_ERR_IO, "%s: cannot walk the file", path);
        pq__h5_append_stack(err);
    }
    H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    pq__h5_unlock();
    if (c.st != PQ_OK) {
        pq_h5_dataset_info_free(&c.items, c.n);
        return c.st;
    }
    *out = c.items;
    *n_out = c.n;
    return PQ_OK;
}

void pq_h5_dataset_info_free(pq_h5_dataset_info **list, int n)
{
    if (!list || !*list) return;
    for (int i = 0; i < n; i++) pq_free((*list)[i].path);
    pq_free(*list);
    *list = NULL;
}

pq_status pq_h5_channel_stats(const char *path, const char *dataset, int64_t n_samples,
                              pq_h5_layout layout, int *n_channels, double **mean_out,
                              double **std_out, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_h5_reader *r = NULL;
    pq_tensor *t = NULL;
    double *sum = NULL, *sq = NULL, *shift = NULL;
    int64_t *cnt = NULL;
    *mean_out = *std_out = NULL;
    *n_channels = 0;
    pq_h5_input_spec spec;
    pq_h5_input_spec_init(&spec, "data", dataset);
    spec.dtype = PQ_DTYPE_FLOAT64;
    /* Probe the rank: the channel axis only exists for rank-4 data. */
    PQ_TRY(pq_h5_reader_open(path, 1, &spec, 32, n_samples, PQ_H5_NAN_IGNORE, NULL, &r, err));
    int64_t sdims[PQ_MAX_RANK];
    int srank = pq_h5_reader_sample_shape(r, 0, sdims);
    if (srank == 3 && layout == PQ_H5_LAYOUT_NHWC) {
        pq_h5_reader_close(&r);
        spec.layout = PQ_H5_LAYOUT_NHWC;
        PQ_TRY(pq_h5_reader_open(path, 1, &spec, 32, n_samples, PQ_H5_NAN_IGNORE, NULL, &r, err));
        srank = pq_h5_reader_sample_shape(r, 0, sdims);
    }
    const int64_t C = srank == 3 ? sdims[0] : 1;
    sum = pq_calloc((size_t)(C ? C : 1), sizeof *sum);
    sq = pq_calloc((size_t)(C ? C : 1), sizeof *sq);
    cnt = pq_calloc((size_t)(C ? C : 1), sizeof *cnt);
    shift = pq_calloc((size_t)(C ? C : 1), sizeof *shift);
    PQ_CHECK(sum && sq && cnt && shift, PQ_ERR_NOMEM, "out of memory");
    const int64_t nb = pq_h5_reader_n_batches(r);
    /* Two passes would need two reads; shifted sums keep one pass accurate: accumulate
     * x - shift with shift = the channel's first value. */
    int have_shift = 0;
    for (int64_t b = 0; b < nb; b++) {
        PQ_TRY(pq_h5_reader_read(r, b, &t, NULL, err));
        const int64_t rows = t->dims[0];
        const int64_t per = rows ? t->numel / rows : 0;
        const int64_t S = C ? per / C : 0;
        const double *x = PQ_DATA(t, double);
        if (!have_shift && rows > 0 && S > 0) {
            for (int64_t c = 0; c < C; c++) shift[c] = x[c * S];
            have_shift = 1;
        }
        for (int64_t n = 0; n < rows; n++)
            for (int64_t c = 0; c < C; c++) {
                const double *p = x + (n * C + c) * S;
                double s1 = 0, s2 = 0;
                for (int64_t s = 0; s < S; s++) {
                    double d = p[s] - shift[c];
                    s1 += d;
                    s2 += d * d;
                }
                sum[c] += s1;
                sq[c] += s2;
                cnt[c] += S;
            }
        pq_tensor_destroy(&t);
    }
    *mean_out = pq_malloc(sizeof(double) * (size_t)(C ? C : 1));
    *std_out = pq_malloc(sizeof(double) * (size_t)(C ? C : 1));
    PQ_CHECK(*mean_out && *std_out, PQ_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < C; c++) {
        double m = cnt[c] ? sum[c] / (double)cnt[c] : NAN;
        double var = cnt[c] ? sq[c] / (double)cnt[c] - m * m : NAN;
        (*mean_out)[c] = m + shift[c];
        (*std_out)[c] = sqrt(var > 0 ? var : 0.0);
        if (isnan(var)) (*std_out)[c] = NAN;
    }
    *n_channels = (int)C;
fail:
    if (st != PQ_OK) {
        pq_free(*mean_out);
        pq_free(*std_out);
        *mean_out = *std_out = NULL;
    }
    pq_tensor_destroy(&t);
    pq_free(sum);
    pq_free(sq);
    pq_free(cnt);
    pq_free(shift);
    pq_h5_reader_close(&r);
    return st;
}
