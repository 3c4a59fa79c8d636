#!/usr/bin/env bash
# Smoke test of tinymesos on the local Docker engine (docker CLI only).
#
#   1. ZooKeeper + 3 masters + agent + executor + scheduler, all 0.23:
#      tasks run and finish; stop the leading master: another is elected,
#      agent and scheduler re-register, tasks keep running; restart the agent
#      (same volume): the executor re-subscribes and the tasks survive.
#   2. 0.24 masters with a 0.22 agent: it cannot detect the leader (and a
#      0.22 scheduler reports the same error on /status).
#   3. 0.22 masters: a 0.22 scheduler's tasks run; a 0.23 scheduler's never
#      launch (the 0.22 master drops `mesos.scheduler.Call`).
#
# Every wait polls a condition with a deadline and names the condition that
# timed out. Everything created carries the label crossgrade.run=tinymesos-smoke
# and is removed on exit.
#
# Usage: images/tinymesos/smoke.sh [--no-build]
#   (builds binaries with prepare.sh and the images unless --no-build)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LABEL="crossgrade.run=tinymesos-smoke"
NET="tms-net"
P="tms"   # container name prefix; the component names are network aliases
# The harness's garbage collection sweeps `crossgrade.run` objects whose
# `crossgrade.owner` process is gone; name this script as the (live) owner.
stat="$(cat /proc/$$/stat)"
read -r -a fields <<<"${stat##*) }"
OWNER="crossgrade.owner=$(cat /proc/sys/kernel/hostname):$$:${fields[19]}"
export DOCKER_BUILDKIT=0

say() { printf '%s [smoke] %s\n' "$(date +%H:%M:%S)" "$*"; }

cleanup() {
    local rc=$?
    if [ $rc -ne 0 ] && [ "${KEEP:-}" = 1 ]; then
        say "SMOKE FAILED (exit $rc); KEEP=1: containers left for inspection; remove with:"
        say "  docker ps -aq --filter label=$LABEL | xargs -r docker rm -f; docker network rm $NET; docker volume rm tms-agent-0"
        exit $rc
    fi
    say "cleaning up (label $LABEL)"
    docker ps -aq --filter "label=$LABEL" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker volume ls -q --filter "label=$LABEL" | xargs -r docker volume rm >/dev/null 2>&1 || true
    docker network ls -q --filter "label=$LABEL" | xargs -r docker network rm >/dev/null 2>&1 || true
    if [ $rc -eq 0 ]; then say "SMOKE PASSED"; else say "SMOKE FAILED (exit $rc)"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dump_logs() {
    for c in $(docker ps -a --filter "label=$LABEL" --format '{{.Names}}' | sort); do
        echo "----- last logs of $c"
        docker logs --tail 25 "$c" 2>&1 | sed 's/^/  /'
    done
}

# wait_until DESCRIPTION TIMEOUT_SECS COMMAND...: polls COMMAND every 0.5 s.
wait_until() {
    local desc="$1" timeout="$2"
    shift 2
    local start=$SECONDS
    while ! "$@" >/dev/null 2>&1; do
        if (( SECONDS - start >= timeout )); then
            say "TIMEOUT after ${timeout}s waiting for: $desc"
            dump_logs
            exit 1
        fi
        sleep 0.5
    done
    say "ok ($((SECONDS - start))s): $desc"
}

check() { # check DESCRIPTION COMMAND...: must hold now
    local desc="$1"
    shift
    if "$@" >/dev/null 2>&1; then
        say "ok: $desc"
    else
        say "FAILED: $desc"
        dump_logs
        exit 1
    fi
}

ip() { docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$P-$1"; }
# jget NAME PORT PATH JQ: a field of a component's JSON endpoint.
jget() { curl -sf --max-time 2 "http://$(ip "$1"):$2$3" | jq -r "$4"; }
jtrue() { [ "$(jget "$@")" = "true" ]; }

run() { # run NAME IMAGE ARGS... (extra docker flags via DFLAGS)
    local name="$1" image="$2"
    shift 2
    docker run -d --name "$P-$name" --hostname "$name" --network "$NET" --network-alias "$name" \
        --label "$LABEL" --label "$OWNER" ${DFLAGS:-} "$image" "$@" >/dev/null
}

start_masters() { # start_masters RELEASE ZKPATH [extra flags]
    local rel="$1" path="$2"
    shift 2
    for i in 0 1 2; do
        run "master-$i" "crossgrade/tinymesos-master:$rel" \
            --zk "zk://zookeeper:2181$path" --hostname "master-$i" --work_dir /var/lib/mesos "$@"
    done
}

leader_name() { # the master that says it is elected
    for i in 0 1 2; do
        if [ "$(jget "master-$i" 5050 /metrics/snapshot '."master/elected"' 2>/dev/null)" = "1" ]; then
            echo "master-$i"
            return 0
        fi
    done
    return 1
}
one_leader() { [ -n "$(leader_name)" ]; }
other_leader() { local l; l="$(leader_name)" && [ "$l" != "$1" ]; }
all_agree_on_leader() { # every running master's state.json names the same leader
    local want="$1" i
    for i in "${@:2}"; do
        [ "$(jget "master-$i" 5050 /master/state.json .leader_info.hostname)" = "$want" ] || return 1
    done
}
SCHED=scheduler-0   # the scheduler that sched/sched_ge/sched_with look at
sched() { jget "$SCHED" 8080 /status "$1"; }
sched_ge() { local v; v="$(sched "$1")" && [ "$v" -ge "$2" ]; }
agent_with() { # agent registered with the given master
    [ "$(jget agent-0 5051 '/slave(1)/state.json' '.registered')" = "true" ] &&
        [ "$(jget agent-0 5051 '/slave(1)/state.json' '.master_hostname')" = "$1" ]
}
sched_with() { [ "$(sched .subscribed)" = "true" ] && [ "$(sched .leader)" = "$1" ]; }
long_tasks() { # "id:pid" of the executor's long-running tasks
    jget executor-0 5052 /state '[.tasks[] | select(.duration == 0 and .state == "TASK_RUNNING") | "\(.id):\(.pid)"] | sort | join(",")'
}
same_long_tasks() { [ "$(long_tasks)" = "$1" ]; }
log_has() { docker logs "$P-$1" 2>&1 | grep -F -- "$2" >/dev/null; }
exited() { [ "$(docker inspect -f '{{.State.Status}}' "$P-$1")" = "exited" ]; }
exec_rereg() { [ "$(jget executor-0 5052 /state .reregistrations)" -ge 1 ] && jtrue executor-0 5052 /state .registered; }
rm_all_but_zk() {
    docker ps -a --filter "label=$LABEL" --format '{{.Names}}' | while read -r c; do
        [ "$c" = "$P-zookeeper" ] || docker rm -f "$c" >/dev/null
    done
}

# ---- build -----------------------------------------------------------------
if [ "${1:-}" != "--no-build" ]; then
    say "building binaries (prepare.sh) and images"
    bash "$here/prepare.sh" >/dev/null 2>&1 || { bash "$here/prepare.sh"; exit 1; }
    for rel in 0.22 0.23 0.24; do
        for role in master agent executor scheduler; do
            docker build -q -f "$here/Dockerfile.$role" --build-arg RELEASE=$rel \
                -t "crossgrade/tinymesos-$role:$rel" "$here" >/dev/null 2>&1
        done
    done
    if ! docker image inspect crossgrade/zookeeper:3.8 >/dev/null 2>&1; then
        docker build -q -t crossgrade/zookeeper:3.8 "$here/../zookeeper" >/dev/null
    fi
fi
for img in crossgrade/zookeeper:3.8 crossgrade/tinymesos-{master,agent,executor,scheduler}:{0.22,0.23,0.24}; do
    docker image inspect "$img" >/dev/null 2>&1 || { say "missing image $img"; exit 1; }
done

docker ps -aq --filter "label=$LABEL" | xargs -r docker rm -f >/dev/null
docker network ls -q --filter "label=$LABEL" | xargs -r docker network rm >/dev/null
docker volume ls -q --filter "label=$LABEL" | xargs -r docker volume rm >/dev/null
docker network create --label "$LABEL" --label "$OWNER" "$NET" >/dev/null
docker volume create --label "$LABEL" --label "$OWNER" tms-agent-0 >/dev/null

run zookeeper crossgrade/zookeeper:3.8
wait_until "zookeeper is serving on 2181" 60 log_has zookeeper "binding to port 0.0.0.0/0.0.0.0:2181"

# ---- phase 1: everything at 0.23 --------------------------------------------
say "== phase 1: 3 masters, agent, executor, scheduler, all 0.23"
start_masters 0.23 /mesos
wait_until "a 0.23 master is elected" 30 one_leader
L1="$(leader_name)"
say "leader: $L1"
wait_until "all masters report $L1 in state.json leader_info.hostname" 15 all_agree_on_leader "$L1" 0 1 2
check "the leader wrote the binary info_ label" log_has "$L1" "(info label)"

DFLAGS="-v tms-agent-0:/var/lib/mesos" run agent-0 crossgrade/tinymesos-agent:0.23 \
    --master zk://zookeeper:2181/mesos --hostname agent-0 --work_dir /var/lib/mesos
run executor-0 crossgrade/tinymesos-executor:0.23 --agent agent-0:5051 --hostname executor-0
wait_until "agent registered with $L1" 30 agent_with "$L1"
wait_until "executor registered with agent-0" 30 log_has executor-0 "executor registered"
t0=$SECONDS
run scheduler-0 crossgrade/tinymesos-scheduler:0.23 \
    --master zk://zookeeper:2181/mesos --hostname scheduler-0 --long 2 --short_every 1secs --short_duration 2secs
wait_until "scheduler subscribed with $L1" 30 sched_with "$L1"
wait_until "a first task is running" 30 sched_ge .tasks.running 1
ttft_wall=$((SECONDS - t0))
wait_until "both long-running tasks are running" 30 sched_ge .long_running 2
wait_until "short tasks finish (>= 3)" 30 sched_ge .tasks.finished 3
check "no task lost or failed" test "$(sched '.tasks.lost + .tasks.failed')" = 0
ttft="$(sched .first_task_running_after_secs)"
LONG="$(long_tasks)"
say "long-running tasks (id:pid) on executor-0: $LONG"

# Idle figures before the failover.
stats="$(docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' $(docker ps -q --filter "label=$LABEL"))"

say "-- stopping the leading master $L1"
fin_before="$(sched .tasks.finished)"
docker stop "$P-$L1" >/dev/null
wait_until "another master is elected" 30 other_leader "$L1"
L2="$(leader_name)"
say "new leader: $L2"
wait_until "agent re-registered with $L2" 30 agent_with "$L2"
wait_until "scheduler re-registered with $L2" 30 sched_with "$L2"
check "scheduler counted a re-registration" sched_ge .reregistrations 1
check "$L2 knows the re-registered agent" test "$(jget "$L2" 5050 /master/state.json .activated_slaves)" = 1
wait_until "short tasks keep finishing under $L2" 30 sched_ge .tasks.finished $((fin_before + 3))
check "long-running tasks survived the failover ($LONG)" same_long_tasks "$LONG"
wait_until "$L2 sees the long tasks as running" 20 test "$(jget "$L2" 5050 /metrics/snapshot '."master/tasks_running"')" -ge 2
check "no task lost or failed" test "$(sched '.tasks.lost + .tasks.failed')" = 0

say "-- restarting the agent (same volume)"
fin_before="$(sched .tasks.finished)"
docker rm -f "$P-agent-0" >/dev/null
wait_until "executor notices the agent is gone" 15 log_has executor-0 "disconnected; waiting for it to come back"
DFLAGS="-v tms-agent-0:/var/lib/mesos" run agent-0 crossgrade/tinymesos-agent:0.23 \
    --master zk://zookeeper:2181/mesos --hostname agent-0 --work_dir /var/lib/mesos
wait_until "agent recovered its checkpoint" 15 log_has agent-0 "Recovering agent"
wait_until "executor re-subscribed with the restarted agent" 20 exec_rereg
wait_until "agent re-registered with $L2" 30 agent_with "$L2"
check "long-running tasks survived the agent restart ($LONG)" same_long_tasks "$LONG"
wait_until "short tasks keep finishing after the agent restart" 30 sched_ge .tasks.finished $((fin_before + 3))
check "no long-running task ended" test "$(sched .long_ended)" = 0
check "no task failed" test "$(sched .tasks.failed)" = 0
# A launch in flight to the agent as it goes down is lost (as in Mesos):
# the master deactivates the agent on the first undeliverable message.
check "at most one (in-flight) short task lost" test "$(sched .tasks.lost)" -le 1
check "the scheduler saw no errors" test "$(sched '.errors | length')" = 0
check "long-running tasks still running" sched_ge .long_running 2
summary1="$(sched '"launched \(.tasks.launched), running \(.tasks.running), finished \(.tasks.finished), lost \(.tasks.lost), failed \(.tasks.failed)"')"
say "scheduler: $summary1"
rm_all_but_zk

# ---- phase 2: 0.24 masters, 0.22 agent -----------------------------------------
say "== phase 2: 0.24 masters with a 0.22 agent (and a 0.22 scheduler)"
start_masters 0.24 /mesos24
wait_until "a 0.24 master is elected" 30 one_leader
L="$(leader_name)"
check "the 0.24 leader wrote only the json.info_ label" log_has "$L" "(json.info label)"
run agent-0 crossgrade/tinymesos-agent:0.22 --master zk://zookeeper:2181/mesos24 --hostname agent-0
wait_until "the 0.22 agent fails to detect the leader and exits" 30 exited agent-0
agent_err="$(docker logs "$P-agent-0" 2>&1 | grep -F 'Failed to detect a master' | head -1)"
say "agent-0 (0.22) exit code $(docker inspect -f '{{.State.ExitCode}}' "$P-agent-0"): ${agent_err#* }"
check "its error names the unknown label" log_has agent-0 "unknown label 'json.info'"
run scheduler-0 crossgrade/tinymesos-scheduler:0.22 --master zk://zookeeper:2181/mesos24 --hostname scheduler-0
wait_until "the 0.22 scheduler reports the detection error on /status" 20 \
    bash -c "curl -sf http://$(ip scheduler-0):8080/status | jq -e '(.last_error // \"\") | contains(\"unknown label\")'"
check "the 0.22 scheduler is not subscribed" test "$(sched .subscribed)" = false
say "scheduler-0 (0.22) last_error: $(sched .last_error)"
rm_all_but_zk

# ---- phase 3: 0.22 masters, 0.23 scheduler -------------------------------------
say "== phase 3: 0.22 masters, agent, executor; a 0.22 then a 0.23 scheduler"
docker volume rm tms-agent-0 >/dev/null
docker volume create --label "$LABEL" --label "$OWNER" tms-agent-0 >/dev/null
start_masters 0.22 /mesos22
wait_until "a 0.22 master is elected" 30 one_leader
L="$(leader_name)"
check "0.22 serves /master/stats.json" curl -sf "http://$(ip "$L"):5050/master/stats.json"
check "0.22 does not serve /master/teardown" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$(ip "$L"):5050/master/teardown")" = 404
DFLAGS="-v tms-agent-0:/var/lib/mesos" run agent-0 crossgrade/tinymesos-agent:0.22 \
    --master zk://zookeeper:2181/mesos22 --hostname agent-0 --work_dir /var/lib/mesos
run executor-0 crossgrade/tinymesos-executor:0.22 --agent agent-0:5051 --hostname executor-0
wait_until "agent registered with $L" 30 agent_with "$L"
run scheduler-0 crossgrade/tinymesos-scheduler:0.22 --master zk://zookeeper:2181/mesos22 --hostname scheduler-0
wait_until "control: the 0.22 scheduler's tasks run" 30 sched_ge .tasks.running 1
wait_until "control: the 0.22 scheduler's tasks finish" 30 sched_ge .tasks.finished 2
docker rm -f "$P-scheduler-0" >/dev/null
# Another name: a scheduler at the same pid would be taken for the old framework.
SCHED=scheduler-1
run scheduler-1 crossgrade/tinymesos-scheduler:0.23 --master zk://zookeeper:2181/mesos22 \
    --hostname scheduler-1 --launch_timeout 10secs
wait_until "the 0.23 scheduler registers with the 0.22 master" 30 sched_with "$L"
wait_until "it receives offers and sends launches" 30 sched_ge .tasks.launched 1
wait_until "the 0.22 master logs the dropped Call" 15 log_has "$L" "Dropping unknown message 'mesos.scheduler.Call'"
wait_until "the scheduler gives up on a launch (launch_timeout 10s)" 30 sched_ge .tasks.launch_timeouts 1
check "none of its tasks ever ran" test "$(sched '.tasks.running + .tasks.finished')" = 0
check "the master counts dropped messages" test "$(jget "$L" 5050 /metrics/snapshot '."master/dropped_messages"')" -ge 1
say "master $L: $(docker logs "$P-$L" 2>&1 | grep -F "Dropping unknown message 'mesos.scheduler.Call'" | head -1)"
say "scheduler-1 (0.23): $(sched '"launched \(.tasks.launched), running \(.tasks.running), finished \(.tasks.finished), launch_timeouts \(.tasks.launch_timeouts)"')"

# ---- figures ------------------------------------------------------------------
say "== figures"
say "time to first running task: ${ttft}s after the scheduler process started (${ttft_wall}s wall clock from docker run)"
say "image sizes:"
docker images --format '  {{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'tinymesos|zookeeper' | sort
say "idle memory (docker stats --no-stream, phase 1 before the failover):"
echo "$stats" | sed 's/^/  /'
