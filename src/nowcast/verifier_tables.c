/* The online verifier's aggregates: the since-start tables and the hourly
 * buckets of the last 24 h. Both the scoring (verifier.c) and the log replay at
 * create (verifier_log.c) add counts here, so this file is below both. */
#include "verifier-impl.h"

int64_t impa_verifier_floor_hour(int64_t t)
{
    return t >= 0 ? t / 3600 : -((-t + 3599) / 3600);
}

static impa_verify_table_t *bucket_for(impa_verifier_t *v, int64_t t)
{
    int64_t h = impa_verifier_floor_hour(t);
    int slot = (int)(((h % N_BUCKETS) + N_BUCKETS) % N_BUCKETS);
    if (v->bucket_hour[slot] != h) {
        for (int m = 0; m < N_METHODS; m++)
            impa_verify_table_init(&v->bucket[slot * N_METHODS + m], v->n_leads, v->step_min,
                                   v->thresholds, v->n_thresh);
        v->bucket_hour[slot] = h;
    }
    return &v->bucket[slot * N_METHODS];
}

void impa_verifier_account(impa_verifier_t *v, int m, int64_t obs_time, int lead, int ti,
                           const impa_contingency_t *c, int64_t pairs, unsigned where)
{
    impa_verify_table_t *tabs[2] = {
        where & IMPA_VACC_TOTAL ? &v->total[m] : NULL,
        where & IMPA_VACC_BUCKET ? &bucket_for(v, obs_time)[m] : NULL};
    for (int k = 0; k < 2; k++) {
        if (!tabs[k])
            continue;
        impa_contingency_t *d = &tabs[k]->table[lead][ti];
        d->hits += c->hits;
        d->misses += c->misses;
        d->false_alarms += c->false_alarms;
        d->correct_negatives += c->correct_negatives;
        if (ti == 0)
            tabs[k]->n_pairs[lead] += pairs;
    }
}
