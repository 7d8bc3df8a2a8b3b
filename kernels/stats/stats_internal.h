/*
 * stats_internal.h - private to kernels/stats/: what the cohort writer and
 * `tessera stats` share beyond the public interface. Nothing outside
 * kernels/stats/ (and its tests) includes it.
 */
#ifndef TSR_STATS_INTERNAL_H
#define TSR_STATS_INTERNAL_H

#include "kernels/stats/stats.h"
#include "runtime/runtime.h"

/* ------------------------------------------- stats.tsv columns (site_stats.c) */

/*
 * The statistics columns of stats.tsv, shared by the cohort writer and
 * `tessera stats`: for the cohort and then each population (suffix
 * "_<pop>"), AC AN AF NS nhet nhomalt F_MISSING HWE ExcHet F (per-ALT columns
 * comma-separated, missing values "."). Append the header names (each
 * preceded by a tab) or one site's values; 0 or -1 on out of memory.
 */
int tsr_site_stats_tsv_header(tsr_str_t *s, int n_pops, char *const *pops);
int tsr_site_stats_tsv_values(tsr_str_t *s, const tsr_site_stats_t *st);

#endif /* TSR_STATS_INTERNAL_H */
