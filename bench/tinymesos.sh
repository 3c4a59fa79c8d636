#!/usr/bin/env bash
# Figures for tinymesos (issue 4's targets): image size per component (target <= 15 MB), idle memory per
# component once a 0.23 cluster runs tasks (target <= 20 MB RSS), the time of one `basic` cell and of the
# 16 `basic` cells of the default matrix (target <= 60 s on 2 cores).
#
#   bench/tinymesos.sh            # builds the images if needed, prints the figures
#
# Everything it starts carries crossgrade.run=bench-tinymesos (and this script as owner, so that
# `crossgrade gc` leaves it alone while it runs) and is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

CG=target/release/crossgrade
cargo build --release -q -p crossgrade
$CG images build >/dev/null 2>&1

echo "== image sizes"
for role in master agent executor scheduler; do
  for rel in 0.22 0.23; do
    bytes=$(docker image inspect -f '{{.Size}}' "crossgrade/tinymesos-$role:$rel")
    printf '  tinymesos-%-9s %s  %5.2f MB\n' "$role" "$rel" "$(echo "$bytes / 1000000" | bc -l)"
  done
done
printf '  zookeeper (service)   3.8  %5.0f MB\n' "$(echo "$(docker image inspect -f '{{.Size}}' crossgrade/zookeeper:3.8) / 1000000" | bc -l)"

echo "== idle memory, all at 0.23, once tasks run"
LABEL=crossgrade.run=bench-tinymesos
read -r -a f <<<"$(sed 's/^.*) //' /proc/$$/stat)"
OWNER="crossgrade.owner=$(cat /proc/sys/kernel/hostname):$$:${f[19]}"
NET=bench-tinymesos
cleanup() {
  docker ps -aq --filter "label=$LABEL" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker network ls -q --filter "label=$LABEL" | xargs -r docker network rm >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
docker network create --label "$LABEL" --label "$OWNER" "$NET" >/dev/null
run() { # run NAME IMAGE ARGS...
  local name=$1 image=$2; shift 2
  docker run -d --name "bench-$name" --hostname "$name" --network "$NET" --network-alias "$name" \
    --label "$LABEL" --label "$OWNER" "$image" "$@" >/dev/null
}
# wait_for WHAT SECONDS COMMAND...: polls a condition with a deadline.
wait_for() {
  local what=$1 limit=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "timed out after ${limit}s waiting for $what" >&2; exit 1; fi
    sleep 0.2
  done
}
logs_have() { docker logs "bench-$1" 2>&1 | grep -qF "$2"; }
run zookeeper crossgrade/zookeeper:3.8
wait_for "zookeeper to listen" 60 logs_have zookeeper "binding to port"
for i in 0 1 2; do
  run master-$i crossgrade/tinymesos-master:0.23 --zk zk://zookeeper:2181/mesos --hostname master-$i
done
run agent-0 crossgrade/tinymesos-agent:0.23 --master zk://zookeeper:2181/mesos --hostname agent-0
run executor-0 crossgrade/tinymesos-executor:0.23 --agent agent-0:5051 --hostname executor-0
run scheduler-0 crossgrade/tinymesos-scheduler:0.23 --master zk://zookeeper:2181/mesos --hostname scheduler-0 --long 2
tasks_finished() {
  docker exec bench-scheduler-0 /tinymesos-scheduler status | grep -qE '"finished":([3-9]|[1-9][0-9])'
}
wait_for "three tasks to finish" 60 tasks_finished
docker stats --no-stream --format '  {{.Name}} {{.MemUsage}}' $(docker ps -q --filter "label=$LABEL") |
  sed 's/bench-//' | sort
cleanup

echo "== time"
t0=$(date +%s.%N)
$CG run --trial 'tinymesos/basic/master=0.23,agent=0.23,executor=0.23,scheduler=0.23' >/dev/null 2>&1 || true
printf '  one basic cell (0.23 everywhere)      %6.1f s\n' "$(echo "$(date +%s.%N) - $t0" | bc -l)"
t0=$(date +%s.%N)
$CG run --scenario basic >/dev/null 2>&1 || true
printf '  the 16 basic cells (-j %s)             %6.1f s\n' "$(nproc | awk '{n=$1*4; print (n>8?8:n)}')" "$(echo "$(date +%s.%N) - $t0" | bc -l)"
