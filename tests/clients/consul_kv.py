"""py-consul, unmodified, against Nacre's Consul API: KV, CAS, blocking queries, status.

Usage: python consul_kv.py HOST PORT. Exits non-zero (with the failed assertion) on any mismatch.
"""
import base64
import sys
import threading
import time

import consul

host, port = sys.argv[1], int(sys.argv[2])
c = consul.Consul(host=host, port=port)

# KV put/get
assert c.kv.put("acceptance/a", "1") is True
index, data = c.kv.get("acceptance/a")
assert data["Value"] == b"1", data
assert int(index) > 0

# recurse and keys
c.kv.put("acceptance/b", "2")
_, items = c.kv.get("acceptance/", recurse=True)
assert [i["Key"] for i in items] == ["acceptance/a", "acceptance/b"], items
_, keys = c.kv.get("acceptance/", keys=True)
assert keys == ["acceptance/a", "acceptance/b"], keys

# cas
_, a = c.kv.get("acceptance/a")
assert c.kv.put("acceptance/a", "stale", cas=a["ModifyIndex"] + 1000) is False
assert c.kv.put("acceptance/a", "fresh", cas=a["ModifyIndex"]) is True
assert c.kv.get("acceptance/a")[1]["Value"] == b"fresh"
assert c.kv.put("acceptance/new", "x", cas=0) is True
assert c.kv.put("acceptance/new", "y", cas=0) is False

# a transaction that commits, and one rolled back (409: nothing applied)
def b64(s):
    return base64.b64encode(s.encode()).decode()


done = c.txn.put([
    {"KV": {"Verb": "set", "Key": "acceptance/t1", "Value": b64("one")}},
    {"KV": {"Verb": "set", "Key": "acceptance/t2", "Value": b64("two")}},
    {"KV": {"Verb": "get", "Key": "acceptance/a"}},
])
assert done["Errors"] is None and len(done["Results"]) == 3, done
assert base64.b64decode(done["Results"][2]["KV"]["Value"]) == b"fresh", done
t1 = done["Results"][0]["KV"]["ModifyIndex"]
try:
    c.txn.put([
        {"KV": {"Verb": "set", "Key": "acceptance/t3", "Value": b64("three")}},
        {"KV": {"Verb": "cas", "Key": "acceptance/t1", "Value": b64("late"), "Index": t1 + 1000}},
    ])
    raise AssertionError("a failing transaction was accepted")
except consul.exceptions.ClientError as e:
    assert "409" in str(e) and "index is stale" in str(e), e
assert c.kv.get("acceptance/t3")[1] is None, "half of a rolled-back transaction was applied"
assert c.kv.get("acceptance/t1")[1]["Value"] == b"one"
c.kv.delete("acceptance/t", recurse=True)

# a missing key: (index, None), and the index header is there
index, missing = c.kv.get("acceptance/nothing")
assert missing is None and int(index) > 0

# a blocking query woken by a change
index, _ = c.kv.get("acceptance/", recurse=True)
woken = {}


def watch():
    started = time.time()
    new_index, items = c.kv.get("acceptance/", recurse=True, index=index, wait="10s")
    woken["index"], woken["items"], woken["took"] = new_index, items, time.time() - started


t = threading.Thread(target=watch)
t.start()
time.sleep(0.5)
assert t.is_alive(), "the blocking query returned before any change"
c.kv.put("acceptance/c", "3")
t.join(5)
assert not t.is_alive(), "the blocking query was not woken"
assert int(woken["index"]) > int(index) and len(woken["items"]) == 4, woken
assert woken["took"] < 5

# delete, recurse delete
assert c.kv.delete("acceptance/c") is True
assert c.kv.get("acceptance/c")[1] is None
assert c.kv.delete("acceptance/", recurse=True) is True
assert c.kv.get("acceptance/", recurse=True)[1] is None

# a session lock and unlock
sid = c.session.create(name="acceptance-lock", ttl=30)
other = c.session.create(name="contender")
assert c.kv.put("acceptance/lock", "me", acquire=sid) is True
assert c.kv.put("acceptance/lock", "them", acquire=other) is False
_, lock = c.kv.get("acceptance/lock")
assert lock["Session"] == sid and lock["LockIndex"] == 1, lock
assert c.session.renew(sid)["ID"] == sid
assert c.kv.put("acceptance/lock", "me", release=sid) is True
assert "Session" not in c.kv.get("acceptance/lock")[1]
_, info = c.session.info(sid)
assert info["Name"] == "acceptance-lock", info
assert c.session.destroy(sid) is True
assert c.session.info(sid)[1] is None
c.session.destroy(other)
c.kv.delete("acceptance/lock")

# service registration with a TTL check, check pass, health filtering, catalog, deregistration
assert c.agent.service.register("acceptance-web", service_id="acc-web-1", address="10.1.2.3", port=8080,
                                tags=["v1"], check=consul.Check.ttl("30s")) is True
_, passing = c.health.service("acceptance-web", passing=True)
assert passing == [], passing  # TTL checks start critical
assert c.agent.check.ttl_pass("service:acc-web-1") is True
_, passing = c.health.service("acceptance-web", passing=True)
assert [e["Service"]["ID"] for e in passing] == ["acc-web-1"], passing
assert "acc-web-1" in c.agent.services()
_, services = c.catalog.services()
assert services.get("acceptance-web") == ["v1"], services
_, nodes = c.catalog.service("acceptance-web")
assert nodes[0]["ServiceAddress"] == "10.1.2.3" and nodes[0]["ServicePort"] == 8080, nodes
assert c.agent.service.deregister("acc-web-1") is True
_, gone = c.health.service("acceptance-web")
assert gone == [], gone

# status
assert c.status.leader(), "a leader address"
assert c.agent.self()["Config"]["Datacenter"]

print("py-consul acceptance: ok")
