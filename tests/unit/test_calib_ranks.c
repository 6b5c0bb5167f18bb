/* test_calib_ranks.c - the reducer interface with 1, 2 and 3 simulated processes (threads
 * with a barrier-based allreduce/agree, standing in for the MPI layer): batches dealt
 * round-robin and in blocks give bitwise the scales and evaluation sums of the
 * single-process run; a failure on one "rank" makes every rank return the same error. */
#include "test_calib_util.h"

#include <pthread.h>
#include <string.h>

#define MAX_RANKS 3

typedef struct world {
    int size;
    pthread_barrier_t bar;
    pq_obs_segment *segs[MAX_RANKS];
    int n_segs[MAX_RANKS];
    pq_status status[MAX_RANKS];
    int64_t calls; /* allreduce calls seen by rank 0 */
} world;

typedef struct rank_ctx {
    world *w;
    int rank;
} rank_ctx;

/* Rank 0 merges every rank's segments in rank order (MIN/MAX/integer SUM are exact; the
 * float SUMs of evaluation add exact zeros), then every rank copies the result. */
static pq_status t_allreduce(void *ctx, pq_obs_segment *segs, int n, pq_err *err)
{
    rank_ctx *r = ctx;
    world *w = r->w;
    w->segs[r->rank] = segs;
    w->n_segs[r->rank] = n;
    pthread_barrier_wait(&w->bar);
    if (r->rank == 0) {
        w->calls++;
        for (int q = 1; q < w->size; q++) {
            PQ_ASSERT(w->n_segs[q] == n);
            for (int s = 0; s < n; s++) {
                pq_obs_segment *d = &segs[s], *o = &w->segs[q][s];
                PQ_ASSERT(d->count == o->count && d->type == o->type && d->rule == o->rule);
                for (int64_t i = 0; i < d->count; i++) {
                    if (d->type == PQ_OBS_F64) {
                        double *a = d->data, b = ((double *)o->data)[i];
                        a[i] = d->rule == PQ_OBS_RULE_MIN ? (b < a[i] ? b : a[i])
                               : d->rule == PQ_OBS_RULE_MAX ? (b > a[i] ? b : a[i])
                                                            : a[i] + b;
                    } else {
                        int64_t *a = d->data, b = ((int64_t *)o->data)[i];
                        a[i] = d->rule == PQ_OBS_RULE_MIN ? (b < a[i] ? b : a[i])
                               : d->rule == PQ_OBS_RULE_MAX ? (b > a[i] ? b : a[i])
                                                            : a[i] + b;
                    }
                }
            }
        }
    }
    pthread_barrier_wait(&w->bar);
    if (r->rank != 0)
        for (int s = 0; s < n; s++)
            memcpy(segs[s].data, w->segs[0][s].data,
                   (size_t)segs[s].count * (segs[s].type == PQ_OBS_F64 ? sizeof(double) : sizeof(int64_t)));
    pthread_barrier_wait(&w->bar);
    (void)err;
    return PQ_OK;
}

/* The scale exchange: a SUM of doubles through the same barrier all-reduce. */
static pq_status t_share(void *ctx, double *buf, int64_t n, pq_err *err)
{
    pq_obs_segment seg = {buf, n, PQ_OBS_F64, PQ_OBS_RULE_SUM};
    return t_allreduce(ctx, &seg, 1, err);
}

static pq_status t_agree(void *ctx, pq_status local, pq_err *err)
{
    rank_ctx *r = ctx;
    world *w = r->w;
    w->status[r->rank] = local;
    pthread_barrier_wait(&w->bar);
    pq_status agreed = PQ_OK;
    int first = -1;
    for (int q = 0; q < w->size; q++)
        if (w->status[q] != PQ_OK && first < 0) first = q, agreed = w->status[q];
    pthread_barrier_wait(&w->bar);
    if (agreed != PQ_OK && local == PQ_OK)
        pq_err_set(err, agreed, "rank %d failed", first);
    return agreed;
}

typedef struct job {
    rank_ctx rc;
    const char *algo;
    pq_tensor **batches; /* all batches (images, labels) */
    int64_t n_batches;
    int block;           /* 0: round-robin, 1: contiguous blocks */
    int poison;          /* rank that gets a NaN batch, -1 none */
    pq_graph *g;
    pq_calib_eval ev;
    pq_status st, st_eval;
    pq_err err;
} job;

static void *rank_main(void *arg)
{
    job *j = arg;
    int size = j->rc.w->size, rank = j->rc.rank;
    pq_tensor *mine[64], *mine2[128], *bad = NULL;
    int64_t idx[64], n = 0;
    pq_executor *ex = NULL;
    pq_calib_options o;
    pq_calib_reducer red = {t_allreduce, t_agree, &j->rc, t_share, rank, size};
    pq_calib_options_init(&o);
    o.activation_algo = j->algo;
    int64_t per = (j->n_batches + size - 1) / size;
    for (int64_t b = 0; b < j->n_batches; b++) {
        int owner = j->block ? (int)(b / per) : (int)(b % size);
        if (owner != rank) continue;
        idx[n] = b;
        mine[n] = j->batches[2 * b];
        mine2[2 * n] = j->batches[2 * b];
        mine2[2 * n + 1] = j->batches[2 * b + 1];
        n++;
    }
    if (j->poison == rank && n > 0) {
        pq_tensor_clone(mine[n - 1], &bad, &j->err);
        PQ_DATA(bad, float)[5] = NAN;
        mine[n - 1] = bad;
    }
    j->st = digits_graph(&j->g, &j->err);
    if (j->st == PQ_OK) j->st = pq_calib_quantize_graph(j->g, &o, &j->err);
    if (j->st == PQ_OK) j->st = pq_executor_create(j->g, NULL, &ex, &j->err);
    if (j->st == PQ_OK) {
        pq_calib_memsource mem;
        pq_calib_source src;
        pq_calib_memsource_init(&mem, mine, idx, n, 1, &src);
        j->st = pq_calib_run(j->g, ex, &o, &src, &red, NULL, &j->err);
    }
    if (j->st == PQ_OK) {
        pq_calib_memsource mem;
        pq_calib_source src;
        pq_calib_eval_options eo = {j->n_batches, 1, 1};
        pq_calib_memsource_init(&mem, mine2, idx, n, 2, &src);
        j->st_eval = pq_calib_evaluate(j->g, ex, &eo, &src, &red, &j->ev, &j->err);
    }
    pq_tensor_destroy(&bad);
    pq_executor_destroy(&ex);
    return NULL;
}

/* Runs `size` ranks; jobs[r] gets each rank's graph and evaluation. */
static void run_world(int size, const char *algo, pq_tensor **batches, int64_t nb, int block,
                      int poison, job *jobs, world *w)
{
    pthread_t th[MAX_RANKS];
    memset(w, 0, sizeof *w);
    w->size = size;
    pthread_barrier_init(&w->bar, NULL, (unsigned)size);
    for (int r = 0; r < size; r++) {
        memset(&jobs[r], 0, sizeof jobs[r]);
        jobs[r].rc = (rank_ctx){w, r};
        jobs[r].algo = algo;
        jobs[r].batches = batches;
        jobs[r].n_batches = nb;
        jobs[r].block = block;
        jobs[r].poison = poison;
        pthread_create(&th[r], NULL, rank_main, &jobs[r]);
    }
    for (int r = 0; r < size; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&w->bar);
}

static void free_world(job *jobs, int size)
{
    for (int r = 0; r < size; r++) {
        pq_graph_destroy(&jobs[r].g);
        pq_calib_eval_clear(&jobs[r].ev);
    }
}

/* Bitwise equality of every TQC's scale and offset. */
static int same_tqcs(const pq_graph *a, const pq_graph *b)
{
    if (a->ops.n != b->ops.n) return 0;
    for (int64_t k = 0; k < a->ops.n; k++) {
        const pq_op *oa = a->ops.items[k], *ob = b->ops.items[k];
        if (!oa->qconfig != !ob->qconfig) return 0;
        if (!oa->qconfig) continue;
        for (int s = 0; s < oa->qconfig->n_inputs + oa->qconfig->n_outputs; s++) {
            int in = s < oa->qconfig->n_inputs;
            const pq_tqc *qa = in ? &oa->qconfig->inputs[s] : &oa->qconfig->outputs[s - oa->qconfig->n_inputs];
            const pq_tqc *qb = in ? &ob->qconfig->inputs[s] : &ob->qconfig->outputs[s - ob->qconfig->n_inputs];
            if (qa->state != qb->state || qa->n_channels != qb->n_channels) return 0;
            if (qa->n_channels &&
                (memcmp(qa->scale, qb->scale, sizeof(float) * (size_t)qa->n_channels) != 0 ||
                 memcmp(qa->offset, qb->offset, sizeof(float) * (size_t)qa->n_channels) != 0))
                return 0;
        }
    }
    return 1;
}

static int same_eval(const pq_calib_eval *a, const pq_calib_eval *b)
{
    if (a->n_vars != b->n_vars || a->samples != b->samples || a->correct_quant != b->correct_quant ||
        a->correct_float != b->correct_float)
        return 0;
    for (int v = 0; v < a->n_vars; v++)
        if (strcmp(a->vars[v].name, b->vars[v].name) != 0 ||
            memcmp(&a->vars[v].noise, &b->vars[v].noise, 7 * sizeof(double)) != 0)
            return 0;
    return 1;
}

PQ_TEST(ranks_give_the_single_process_result)
{
    pq_err err = {0};
    pq_tensor **b = NULL;
    int64_t nb = 0;
    static const char *const algos[] = {"minmax", "kl"};
    PQ_EXPECT_OK(read_batches("/test/images", "/test/labels", 32, 0, &b, &nb, &err), &err);
    PQ_EXPECT_EQ(nb, 12);
    for (int a = 0; a < 2 && b; a++) {
        job ref[1], jobs[MAX_RANKS];
        world w;
        run_world(1, algos[a], b, nb, 0, -1, ref, &w);
        PQ_EXPECT_OK(ref[0].st, &ref[0].err);
        PQ_EXPECT_OK(ref[0].st_eval, &ref[0].err);
        PQ_EXPECT_EQ(w.calls, (a == 0 ? 1 : 2) + 1); /* one per pass + evaluation */
        for (int size = 2; size <= 3; size++)
            for (int block = 0; block < 2; block++) {
                run_world(size, algos[a], b, nb, block, -1, jobs, &w);
                /* + the two sums of the split scale computation (failures, results) */
                PQ_EXPECT_EQ(w.calls, (a == 0 ? 1 : 2) + 1 + 2);
                for (int r = 0; r < size; r++) {
                    PQ_EXPECT_OK(jobs[r].st, &jobs[r].err);
                    PQ_EXPECT_OK(jobs[r].st_eval, &jobs[r].err);
                    if (jobs[r].g && ref[0].g && !same_tqcs(ref[0].g, jobs[r].g))
                        PQ_FAIL_AT("%s: %d ranks (%s), rank %d: scales differ from 1 process",
                                   algos[a], size, block ? "blocks" : "round-robin", r);
                    if (!same_eval(&ref[0].ev, &jobs[r].ev))
                        PQ_FAIL_AT("%s: %d ranks, rank %d: evaluation differs from 1 process",
                                   algos[a], size, r);
                }
                free_world(jobs, size);
            }
        free_world(ref, 1);
    }
    free_batches(b, nb, 2);
}

PQ_TEST(a_failing_rank_fails_every_rank)
{
    pq_err err = {0};
    pq_tensor **b = NULL;
    int64_t nb = 0;
    job jobs[MAX_RANKS];
    world w;
    PQ_EXPECT_OK(read_batches("/test/images", "/test/labels", 32, 0, &b, &nb, &err), &err);
    if (!b) return;
    run_world(3, "percentile", b, nb, 0, 1, jobs, &w);
    PQ_EXPECT_EQ(w.calls, 1); /* pass 1's allreduce still ran, then every rank stopped */
    PQ_EXPECT_EQ(jobs[1].st, PQ_ERR_NUMERIC);
    PQ_EXPECT_CONTAINS(jobs[1].err.msg, "batch 10");
    for (int r = 0; r < 3; r += 2) {
        PQ_EXPECT_EQ(jobs[r].st, PQ_ERR_NUMERIC);
        PQ_EXPECT_CONTAINS(jobs[r].err.msg, "rank 1 failed");
    }
    free_world(jobs, 3);
    free_batches(b, nb, 2);
}

PQ_TEST_MAIN()
