"""A minimal v1 framework on pymesos (unchanged, vendored): subscribes, launches one task running
`sleep 1` on the first offer that fits, acknowledges every status update explicitly, and exits 0 once
the task is TASK_FINISHED (printing `FINISHED <task>`). Any other outcome exits non-zero with the
reason on the last line: a terminal state other than TASK_FINISHED (3), an ERROR event or pymesos
aborting (2), or no result within --timeout (1).

It is written the way pymesos's own examples are, against the Mesos 1.0 API (`offer.agent_id`);
nothing in it depends on the master's version.

    python3 framework.py --master zk://zookeeper-0:2181/mesos [--timeout 60] [--name NAME]
    python3 framework.py --master master-0:5050 ...
"""

import argparse
import logging
import socket
import sys
import threading
import time
import uuid

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"}
TASK_CPUS = 0.1
TASK_MEM = 32.0


def say(line):
    print("%s %s" % (time.strftime("%H:%M:%S"), line), flush=True)


def scalar(resources, name):
    return sum(r.scalar.value for r in resources if r.name == name and r.type == "SCALAR")


class OneTask(Scheduler):
    def __init__(self):
        self.task_id = None
        self.state = None
        self.exit_code = None
        self.reason = None
        self.done = threading.Event()

    def finish(self, code, reason):
        if self.exit_code is None:
            self.exit_code, self.reason = code, reason
        self.done.set()

    def registered(self, driver, framework_id, master_info):
        say("REGISTERED framework %s with master %s:%s (version %s)" % (
            framework_id.value, master_info.hostname, master_info.port,
            master_info.get("version") or "unknown"))

    def reregistered(self, driver, master_info):
        say("REREGISTERED with master %s:%s" % (master_info.hostname, master_info.port))

    def disconnected(self, driver):
        say("DISCONNECTED")

    def resourceOffers(self, driver, offers):
        for offer in offers:
            cpus, mem = scalar(offer.resources, "cpus"), scalar(offer.resources, "mem")
            say("OFFER %s from agent %s on %s: cpus %s, mem %s" % (
                offer.id.value, offer.agent_id.value, offer.hostname, cpus, mem))
            if self.task_id is not None or cpus < TASK_CPUS or mem < TASK_MEM:
                say("DECLINE %s" % offer.id.value)
                driver.declineOffer(offer.id)
                continue
            task = Dict()
            task.task_id.value = "pymesos-%s" % uuid.uuid4().hex[:8]
            task.agent_id.value = offer.agent_id.value
            task.name = "pymesos sleep 1"
            task.command.shell = True
            task.command.value = "sleep 1"
            task.resources = [
                dict(name="cpus", type="SCALAR", scalar=dict(value=TASK_CPUS)),
                dict(name="mem", type="SCALAR", scalar=dict(value=TASK_MEM)),
            ]
            self.task_id = task.task_id.value
            say("LAUNCH %s on agent %s with offer %s" % (
                self.task_id, task.agent_id.value, offer.id.value))
            driver.launchTasks(offer.id, [task])

    def offerRescinded(self, driver, offer_id):
        say("RESCIND %s" % offer_id.value)

    def inverseOffers(self, driver, offers):
        for offer in offers:
            say("INVERSE_OFFER %s" % offer.id.value)

    def statusUpdate(self, driver, update):
        task, state = update.task_id.value, update.state
        self.state = state
        say("UPDATE %s %s%s" % (task, state,
                                (": " + update.message) if update.get("message") else ""))
        if update.get("uuid"):
            driver.acknowledgeStatusUpdate(update)
            say("ACKNOWLEDGED %s %s" % (task, state))
        if task != self.task_id or state not in TERMINAL:
            return
        if state == "TASK_FINISHED":
            say("FINISHED %s" % task)
            self.finish(0, None)
        else:
            self.finish(3, "task %s ended %s: %s" % (task, state, update.get("message") or ""))

    def slaveLost(self, driver, agent_id):
        say("AGENT_LOST %s" % agent_id.value)

    def executorLost(self, driver, executor_id, agent_id, status):
        say("EXECUTOR_LOST %s on %s (%s)" % (executor_id.value, agent_id.value, status))

    def frameworkMessage(self, driver, executor_id, agent_id, data):
        say("MESSAGE from %s" % executor_id.value)

    def error(self, driver, message):
        say("ERROR event: %s" % message)
        self.finish(2, "ERROR event from the master: %s" % message)


def main():
    p = argparse.ArgumentParser(description="A minimal pymesos v1 framework: one `sleep 1` task.")
    p.add_argument("--master", required=True, help="zk://HOST:PORT/PATH or HOST:PORT")
    p.add_argument("--name", default="crossgrade-pymesos")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds until giving up")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import pymesos
    say("pymesos %s subscribing through %s" % (pymesos.__VERSION__, args.master))
    sched = OneTask()
    framework = Dict(user="root", name=args.name, hostname=socket.gethostname())
    driver = MesosSchedulerDriver(sched, framework, args.master, use_addict=True,
                                  implicit_acknowledgements=False)
    driver.start()
    deadline = time.monotonic() + args.timeout
    try:
        # Short waits: pymesos reports its I/O thread's failure with _thread.interrupt_main(), which
        # the main thread only sees between waits (it does not wake a blocked wait).
        while not sched.done.wait(0.2) and time.monotonic() < deadline:
            pass
        if not sched.done.is_set():
            where = ("no task launched" if sched.task_id is None else
                     "task %s last seen %s" % (sched.task_id, sched.state or "in no update"))
            sched.finish(1, "TIMEOUT after %ss: %s" % (args.timeout, where))
    except BaseException as e:  # pymesos re-raises its I/O thread's failure in the main thread
        sched.finish(2, "pymesos aborted: %s: %s" % (type(e).__name__, e))
    try:
        driver.stop()  # TEARDOWN (no failover), then close the subscription
        driver.join()
    except BaseException as e:
        say("stopping the driver failed: %s: %s" % (type(e).__name__, e))
    if sched.exit_code != 0:
        say("FAILED (exit %s): %s" % (sched.exit_code, sched.reason))
    else:
        say("DONE (exit 0)")
    sys.exit(sched.exit_code)


if __name__ == "__main__":
    main()
