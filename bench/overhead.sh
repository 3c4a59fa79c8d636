#!/usr/bin/env bash
# Measures the harness's own overhead on the fixture, in one run so the figures are comparable:
#  1. setup+teardown of a trial of three containers (network, data volumes, start, readiness, log capture,
#     removal), median of N runs, from results.json's trial duration;
#  2. the same three containers started and removed by plain `docker run`/`docker rm` scripts, one
#     sequential and one with the runs in parallel (no readiness wait, no logs: a lower bound);
#  3. the harness's peak RSS while running 16 trials (-j 8).
# Usage: bench/overhead.sh [N]   (default N=7). Needs the fixture images (`crossgrade images build`).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-7}
cargo build --release -q -p crossgrade
CG=target/release/crossgrade
$CG images build >/dev/null 2>&1
REPORTS=$(mktemp -d)
trap 'rm -rf "$REPORTS"' EXIT

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

harness=()
for i in $(seq "$N"); do
  $CG run -f bench/matrix.toml --reports "$REPORTS" >/dev/null 2>&1
  ms=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["trials"][0]["duration_ms"])' "$REPORTS/latest/results.json")
  harness+=("$(python3 -c "print($ms/1000)")")
done

names="node-0 node-1 node-2"
shell_seq() {
  local p=bench-seq-$$
  docker network create "$p" >/dev/null
  for n in $names; do
    docker run -d --name "$p-$n" --network "$p" --network-alias "$n" -v "$p-$n:/data" \
      crossgrade/fixture:1.0 node --name "$n" --peers node-0,node-1,node-2 --data /data >/dev/null
  done
  for n in $names; do docker rm -f -v "$p-$n" >/dev/null; docker volume rm "$p-$n" >/dev/null; done
  docker network rm "$p" >/dev/null
}
shell_par() {
  local p=bench-par-$$
  docker network create "$p" >/dev/null
  for n in $names; do
    docker run -d --name "$p-$n" --network "$p" --network-alias "$n" -v "$p-$n:/data" \
      crossgrade/fixture:1.0 node --name "$n" --peers node-0,node-1,node-2 --data /data >/dev/null &
  done
  wait
  for n in $names; do (docker rm -f -v "$p-$n" >/dev/null; docker volume rm "$p-$n" >/dev/null) & done
  wait
  docker network rm "$p" >/dev/null
}
seq_t=(); par_t=()
for i in $(seq "$N"); do
  t0=$(now); shell_seq; t1=$(now); seq_t+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now); shell_par; t1=$(now); par_t+=("$(echo "$t1 - $t0" | bc)")
done

h=$(printf '%s\n' "${harness[@]}" | median)
s=$(printf '%s\n' "${seq_t[@]}" | median)
p=$(printf '%s\n' "${par_t[@]}" | median)
echo "three-container trial, setup+teardown, median of $N:"
printf '  crossgrade          %6.2f s   (runs: %s)\n' "$h" "${harness[*]}"
printf '  docker CLI, serial  %6.2f s   (ratio crossgrade/serial %.2f)\n' "$s" "$(echo "$h / $s" | bc -l)"
printf '  docker CLI, parallel%6.2f s   (ratio crossgrade/parallel %.2f)\n' "$p" "$(echo "$h / $p" | bc -l)"

/usr/bin/time -o "$REPORTS/rss" -f '%M' $CG run -f bench/matrix16.toml -j 8 --reports "$REPORTS" >/dev/null 2>&1 || true
rss=$(tail -n 1 "$REPORTS/rss")
trials=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["counts"]["total"], "trials,", r["counts"]["pass"], "pass,", round(r["duration_ms"]/1000,1), "s")' "$REPORTS/latest/results.json")
echo "16 trials at -j 8: $trials; peak RSS of crossgrade $((rss / 1024)) MB ($rss KiB)"
