#!/bin/bash
# Dispatch rate of zero-work tasks, 1..MAX ranks, journal on and off.
#   run_dispatch_bench.sh BUILD_DIR [MAX_RANKS=4] [TASKS=200000] [BATCH=4]
# Every rank is a worker (rank 0's worker runs beside the dispatcher thread),
# so -n K means K workers. On a machine with fewer cores than K + 1 busy
# threads the run is oversubscribed and the figures are a lower bound.
set -euo pipefail
build=$1
max=${2:-4}
tasks=${3:-200000}
batch=${4:-4}
bench=$build/tests/bench/dispatch/bench_dispatch
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "cores: $(nproc); tasks: $tasks zero-work; batch: $batch"
printf '%-6s %-8s %-8s %-10s %-12s %-10s\n' ranks workers journal seconds tasks/s us/task
for np in $(seq 1 "$max"); do
  for j in off on; do
    line=$(mpirun --oversubscribe -n "$np" "$bench" --tasks "$tasks" --batch "$batch" --journal "$j")
    set -- $line
    printf '%-6s %-8s %-8s %-10s %-12s %-10s\n' "$np" "$np" "$j" "${10}" "${12}" "${14}"
  done
done
