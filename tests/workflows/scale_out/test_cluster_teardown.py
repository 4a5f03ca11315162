"""The Ray cluster fixture leaves nothing behind: not after close(), and not after its test
process was killed (the next cluster reaps it). Only the network part is made here, with a
process in one namespace standing in for a node: what teardown must find and end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tektii_clusters import RayCluster, forward_rule, reap_stale_clusters

HALF_MADE = """
import json, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from tektii_clusters import RayCluster
cluster = RayCluster()
cluster._network()
node = cluster.nodes["w1"]
subprocess.Popen(["ip", "netns", "exec", node.netns, "sleep", "600"])
print(json.dumps({"bridge": cluster.bridge, "netns": [n.netns for n in cluster.nodes.values()]}), flush=True)
time.sleep(600)
"""


def leftovers(bridge: str, namespaces: list[str]) -> list[str]:
    found = [n for n in namespaces if Path("/run/netns", n).exists()]
    if subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode == 0:
        found.append(bridge)
    if subprocess.run(["iptables", "-C", *forward_rule(bridge)], capture_output=True).returncode == 0:
        found.append("FORWARD rule")
    return found


def test_close_removes_the_network_and_the_processes():
    cluster = RayCluster()
    cluster._network()
    bridge, namespaces = cluster.bridge, [n.netns for n in cluster.nodes.values()]
    sleeper = subprocess.Popen(["ip", "netns", "exec", cluster.nodes["head"].netns, "sleep", "600"])
    assert len(leftovers(bridge, namespaces)) == 5  # three namespaces, the bridge, the rule
    cluster.close()
    assert sleeper.wait(timeout=30) != 0  # ended by teardown, not by itself
    assert leftovers(bridge, namespaces) == []


def test_a_killed_test_process_is_reaped_by_the_next_cluster():
    RayCluster()  # what the fixture needs (root, ip, iptables, ray): skipped or failed without it
    owner = subprocess.Popen([sys.executable, "-c", HALF_MADE, str(Path(__file__).parents[2])],
                             stdout=subprocess.PIPE, text=True)
    try:
        made = json.loads(owner.stdout.readline())
    finally:
        owner.kill()
        owner.wait(timeout=30)
    assert len(leftovers(made["bridge"], made["netns"])) == 5  # three namespaces, the bridge, the rule
    reap_stale_clusters()
    assert leftovers(made["bridge"], made["netns"]) == []
