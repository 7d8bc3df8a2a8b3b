/* evidence.c - lifecycle of the evidence partition and call-set records (tsr_evidence_t, tsr_callset_t). */
#include "io/io.h"

#include <stdlib.h>

tsr_status_t tsr_evidence_create(tsr_evidence_t **ev)
{
    TSR_ALLOC(*ev, 1);
    return TSR_OK;
}

void tsr_evidence_destroy(tsr_evidence_t **ev)
{
    if (!ev || !*ev)
        return;
    tsr_evidence_t *e = *ev;
    free(e->contig);
    if (e->sample_ids)
        for (int32_t i = 0; i < e->n_samples; i++)
            free(e->sample_ids[i]);
    free(e->sample_ids);
    free(e->pos);
    free(e->kind);
    free(e->n_alleles);
    free(e->allele_off);
    free(e->allele_blob);
    free(e->pl_off);
    free(e->pl);
    free(e->ad_off);
    free(e->ad);
    free(e->dp);
    free(e->strand);
    free(e->block_sample);
    free(e->block_start);
    free(e->block_end);
    free(e->block_min_dp);
    free(e);
    *ev = NULL;
}

tsr_status_t tsr_callset_create(tsr_callset_t **cs)
{
    TSR_ALLOC(*cs, 1);
    return TSR_OK;
}

void tsr_callset_destroy(tsr_callset_t **cs)
{
    if (!cs || !*cs)
        return;
    tsr_callset_t *c = *cs;
    free(c->contig);
    free(c->pos);
    free(c->n_alleles);
    free(c->allele_off);
    free(c->allele_blob);
    free(c->qual);
    free(c->filter);
    free(c->af);
    free(c->af_off);
    free(c->gt);
    free(c->gq);
    free(c->dp);
    free(c->ad_off);
    free(c->ad);
    free(c->pl_off);
    free(c->pl);
    free(c->ds);
    free(c->gp);
    free(c->pop_af);
    free(c);
    *cs = NULL;
}
