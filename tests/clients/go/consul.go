package main

import (
	"net"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
)

func consulClient(addr, token string) *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.Token = token
	c, err := api.NewClient(cfg)
	must(err, "api.NewClient")
	return c
}

func consulScenario(addr string) {
	c := consulClient(addr, "")
	leader, err := c.Status().Leader()
	must(err, "status leader")
	check(leader != "", "a leader")

	kvScenario(c)
	txnScenario(c)
	sessionScenario(c)
	lockScenario(addr)
	semaphoreScenario(addr)
	agentScenario(c)
}

func kvScenario(c *api.Client) {
	kv := c.KV()
	_, err := kv.Put(&api.KVPair{Key: "go/a", Value: []byte("1"), Flags: 42}, nil)
	must(err, "put go/a")
	p, meta, err := kv.Get("go/a", nil)
	must(err, "get go/a")
	check(p != nil, "go/a exists")
	equal(string(p.Value), "1", "value")
	equal(p.Flags, uint64(42), "flags")
	equal(meta.LastIndex, p.ModifyIndex, "X-Consul-Index of a key is its ModifyIndex")
	check(meta.KnownLeader, "KnownLeader")

	for _, k := range []string{"go/b", "go/sub/c"} {
		_, err = kv.Put(&api.KVPair{Key: k, Value: []byte(k)}, nil)
		must(err, "put "+k)
	}
	pairs, _, err := kv.List("go/", nil)
	must(err, "list go/")
	var listed []string
	for _, p := range pairs {
		listed = append(listed, p.Key)
	}
	equal(listed, []string{"go/a", "go/b", "go/sub/c"}, "list")
	keys, _, err := kv.Keys("go/", "/", nil)
	must(err, "keys go/")
	equal(keys, []string{"go/a", "go/b", "go/sub/"}, "keys with a separator")

	missing, meta, err := kv.Get("go/missing", nil)
	must(err, "get a missing key")
	check(missing == nil && meta.LastIndex > 0, "a missing key: nil, with an index")

	// Compare-and-set on ModifyIndex; 0 means create-only.
	ok, _, err := kv.CAS(&api.KVPair{Key: "go/a", Value: []byte("stale"), ModifyIndex: p.ModifyIndex + 1000}, nil)
	must(err, "cas stale")
	check(!ok, "a stale cas is refused")
	ok, _, err = kv.CAS(&api.KVPair{Key: "go/a", Value: []byte("2"), ModifyIndex: p.ModifyIndex}, nil)
	must(err, "cas")
	check(ok, "cas with the current index")
	ok, _, _ = kv.CAS(&api.KVPair{Key: "go/a", Value: []byte("x"), ModifyIndex: 0}, nil)
	check(!ok, "create-only on an existing key is refused")
	ok, _, _ = kv.CAS(&api.KVPair{Key: "go/new", Value: []byte("x"), ModifyIndex: 0}, nil)
	check(ok, "create-only on a new key")
	fresh, _, _ := kv.Get("go/new", nil)
	ok, _, _ = kv.DeleteCAS(&api.KVPair{Key: "go/new", ModifyIndex: fresh.ModifyIndex + 1}, nil)
	check(!ok, "a stale delete-cas is refused")
	ok, _, _ = kv.DeleteCAS(&api.KVPair{Key: "go/new", ModifyIndex: fresh.ModifyIndex}, nil)
	check(ok, "delete-cas")

	// A blocking query returns when the key changes, with the new value and a higher index.
	_, err = kv.Put(&api.KVPair{Key: "go/watched", Value: []byte("before")}, nil)
	must(err, "put go/watched")
	_, meta, err = kv.Get("go/watched", nil)
	must(err, "get go/watched")
	woken := make(chan *api.KVPair, 1)
	var returnedIndex atomic.Uint64
	go func() {
		p, m, err := kv.Get("go/watched", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second})
		must(err, "blocking get")
		returnedIndex.Store(m.LastIndex)
		woken <- p
	}()
	select {
	case <-woken:
		fail("the blocking query returned before anything changed")
	case <-time.After(300 * time.Millisecond):
	}
	_, err = kv.Put(&api.KVPair{Key: "go/watched", Value: []byte("after")}, nil)
	must(err, "put go/watched again")
	changed := receive(woken, 5*time.Second, "the blocking query to return", func(*api.KVPair) bool { return true })
	equal(string(changed.Value), "after", "the woken query's value")
	check(returnedIndex.Load() > meta.LastIndex, "the index moved on")

	// The same for a listing.
	_, meta, err = kv.List("go/sub/", nil)
	must(err, "list go/sub/")
	listWoken := make(chan api.KVPairs, 1)
	go func() {
		ps, _, err := kv.List("go/sub/", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second})
		must(err, "blocking list")
		listWoken <- ps
	}()
	_, err = kv.Put(&api.KVPair{Key: "go/sub/d", Value: []byte("d")}, nil)
	must(err, "put go/sub/d")
	ps := receive(listWoken, 5*time.Second, "the blocking list to return", func(api.KVPairs) bool { return true })
	equal(len(ps), 2, "the woken listing")

	_, err = kv.DeleteTree("go/sub/", nil)
	must(err, "delete tree")
	ps, _, _ = kv.List("go/sub/", nil)
	equal(len(ps), 0, "deleted tree")
}

func txnScenario(c *api.Client) {
	ok, resp, _, err := c.Txn().Txn(api.TxnOps{
		{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "go/t1", Value: []byte("one")}},
		{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "go/t2", Value: []byte("two")}},
		{KV: &api.KVTxnOp{Verb: api.KVGet, Key: "go/a"}},
	}, nil)
	must(err, "txn")
	check(ok, "the transaction commits: %+v", resp)
	equal(len(resp.Results), 3, "results")
	equal(string(resp.Results[2].KV.Value), "2", "a get inside the transaction")
	t1 := resp.Results[0].KV.ModifyIndex

	// A failing check rolls everything back.
	ok, resp, _, err = c.Txn().Txn(api.TxnOps{
		{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "go/t3", Value: []byte("three")}},
		{KV: &api.KVTxnOp{Verb: api.KVCheckIndex, Key: "go/t1", Index: t1 + 1000}},
	}, nil)
	must(err, "txn rolled back")
	check(!ok, "the transaction is rolled back")
	equal(len(resp.Errors), 1, "one error")
	equal(resp.Errors[0].OpIndex, 1, "the failing operation")
	t3, _, _ := c.KV().Get("go/t3", nil)
	check(t3 == nil, "nothing of a rolled-back transaction is written")
}

func sessionScenario(c *api.Client) {
	s := c.Session()
	id, _, err := s.Create(&api.SessionEntry{Name: "go-session", TTL: "30s", Behavior: api.SessionBehaviorRelease}, nil)
	must(err, "session create")
	other, _, err := s.Create(&api.SessionEntry{Name: "go-other", TTL: "30s"}, nil)
	must(err, "session create")
	info, _, err := s.Info(id, nil)
	must(err, "session info")
	check(info != nil && info.Name == "go-session", "session info: %+v", info)
	all, _, err := s.List(nil)
	must(err, "session list")
	check(len(all) >= 2, "both sessions listed: %d", len(all))
	renewed, _, err := s.Renew(id, nil)
	must(err, "session renew")
	check(renewed != nil && renewed.ID == id, "renewed")

	kv := c.KV()
	ok, _, err := kv.Acquire(&api.KVPair{Key: "go/leader", Value: []byte("me"), Session: id}, nil)
	must(err, "acquire")
	check(ok, "acquired")
	ok, _, _ = kv.Acquire(&api.KVPair{Key: "go/leader", Value: []byte("other"), Session: other}, nil)
	check(!ok, "held by the first session")
	p, _, _ := kv.Get("go/leader", nil)
	equal(p.Session, id, "the holder")
	equal(p.LockIndex, uint64(1), "LockIndex")
	ok, _, _ = kv.Release(&api.KVPair{Key: "go/leader", Session: id}, nil)
	check(ok, "released")
	ok, _, _ = kv.Acquire(&api.KVPair{Key: "go/leader", Value: []byte("other"), Session: other}, nil)
	check(ok, "the other session acquires it after the release")
	// Destroying a session releases its locks (behavior release).
	_, err = s.Destroy(other, nil)
	must(err, "destroy")
	p, _, _ = kv.Get("go/leader", nil)
	equal(p.Session, "", "released by the destroyed session")
	_, err = s.Destroy(id, nil)
	must(err, "destroy")
}

// api.Lock between two clients: the second waits while the first holds it, and gets it when
// the first unlocks.
func lockScenario(addr string) {
	c1, c2 := consulClient(addr, ""), consulClient(addr, "")
	l1, err := c1.LockKey("go/locks/leader")
	must(err, "LockKey")
	lost1, err := l1.Lock(nil)
	must(err, "first lock")
	check(lost1 != nil, "the first client holds the lock")

	try, err := c2.LockOpts(&api.LockOptions{Key: "go/locks/leader", LockTryOnce: true, LockWaitTime: 500 * time.Millisecond})
	must(err, "LockOpts")
	held, err := try.Lock(nil)
	must(err, "try lock")
	check(held == nil, "a second client does not get a held lock")

	l2, err := c2.LockKey("go/locks/leader")
	must(err, "LockKey")
	acquired := make(chan struct{})
	go func() {
		lost, err := l2.Lock(nil)
		must(err, "second lock")
		check(lost != nil, "the second client holds the lock")
		close(acquired)
	}()
	select {
	case <-acquired:
		fail("the second client got a lock the first holds")
	case <-time.After(500 * time.Millisecond):
	}
	must(l1.Unlock(), "unlock")
	receive(acquired, 10*time.Second, "the second client to get the lock", func(struct{}) bool { return true })
	select {
	case <-lost1:
	case <-time.After(5 * time.Second):
		fail("the first client's lock channel was not closed by its unlock")
	}
	must(l2.Unlock(), "unlock")
	must(l2.Destroy(), "destroy the lock")
}

// api.Semaphore with one slot between two clients.
func semaphoreScenario(addr string) {
	c1, c2 := consulClient(addr, ""), consulClient(addr, "")
	s1, err := c1.SemaphorePrefix("go/sema", 1)
	must(err, "SemaphorePrefix")
	lost1, err := s1.Acquire(nil)
	must(err, "first acquire")
	check(lost1 != nil, "the first client holds the slot")

	try, err := c2.SemaphoreOpts(&api.SemaphoreOptions{Prefix: "go/sema", Limit: 1, SemaphoreTryOnce: true, SemaphoreWaitTime: 500 * time.Millisecond})
	must(err, "SemaphoreOpts")
	held, err := try.Acquire(nil)
	must(err, "try acquire")
	check(held == nil, "no second slot")

	s2, err := c2.SemaphorePrefix("go/sema", 1)
	must(err, "SemaphorePrefix")
	acquired := make(chan struct{})
	go func() {
		lost, err := s2.Acquire(nil)
		must(err, "second acquire")
		check(lost != nil, "the second client holds the slot")
		close(acquired)
	}()
	select {
	case <-acquired:
		fail("the second client took a slot that is taken")
	case <-time.After(500 * time.Millisecond):
	}
	must(s1.Release(), "release")
	receive(acquired, 10*time.Second, "the second client to get the slot", func(struct{}) bool { return true })
	must(s2.Release(), "release")
}

func agentScenario(c *api.Client) {
	agent, health, catalog := c.Agent(), c.Health(), c.Catalog()

	// A TTL check starts critical; passing it makes the service healthy.
	must(agent.ServiceRegister(&api.AgentServiceRegistration{
		ID: "go-web-1", Name: "go-web", Address: "127.0.0.1", Port: 8080,
		Tags: []string{"v1"}, Meta: map[string]string{"team": "go"},
		Check: &api.AgentServiceCheck{TTL: "30s"},
	}), "register go-web")
	entries, _, err := health.Service("go-web", "", true, nil)
	must(err, "health passing")
	equal(len(entries), 0, "a TTL check starts critical")
	entries, meta, err := health.Service("go-web", "", false, nil)
	must(err, "health")
	equal(len(entries), 1, "listed when not filtering on passing")
	woken := make(chan []*api.ServiceEntry, 1)
	go func() {
		es, _, err := health.Service("go-web", "", true, &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second})
		must(err, "blocking health")
		woken <- es
	}()
	must(agent.UpdateTTL("service:go-web-1", "all good", api.HealthPassing), "UpdateTTL")
	es := receive(woken, 5*time.Second, "the blocking health query", func([]*api.ServiceEntry) bool { return true })
	equal(len(es), 1, "passing after UpdateTTL")
	equal(es[0].Service.Port, 8080, "port")
	equal(es[0].Service.Meta["team"], "go", "meta")
	must(agent.FailTTL("service:go-web-1", "broken"), "FailTTL")
	entries, _, _ = health.Service("go-web", "", true, nil)
	equal(len(entries), 0, "not passing after FailTTL")
	must(agent.PassTTL("service:go-web-1", "fixed"), "PassTTL")

	// An HTTP check, probed by Nacre: passing while the endpoint answers 200, critical after.
	var status atomic.Int32
	status.Store(200)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err, "listen")
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	port := ln.Addr().(*net.TCPAddr).Port
	must(agent.ServiceRegister(&api.AgentServiceRegistration{
		ID: "go-api-1", Name: "go-api", Address: "127.0.0.1", Port: port,
		Check: &api.AgentServiceCheck{HTTP: "http://" + ln.Addr().String() + "/health", Interval: "1s", Timeout: "1s"},
	}), "register go-api")
	passing := func(name string) int {
		es, _, err := health.Service(name, "", true, nil)
		must(err, "health "+name)
		return len(es)
	}
	eventually(15*time.Second, "the HTTP check to pass", func() bool { return passing("go-api") == 1 })
	status.Store(500)
	eventually(15*time.Second, "the HTTP check to fail", func() bool { return passing("go-api") == 0 })

	services, err := agent.Services()
	must(err, "agent services")
	check(services["go-web-1"] != nil && services["go-api-1"] != nil, "agent services: %v", services)

	// The catalog.
	names, _, err := catalog.Services(nil)
	must(err, "catalog services")
	equal(names["go-web"], []string{"v1"}, "catalog services")
	cs, _, err := catalog.Service("go-web", "", nil)
	must(err, "catalog service")
	equal(len(cs), 1, "catalog service")
	equal(cs[0].ServicePort, 8080, "catalog port")
	equal(cs[0].ServiceMeta["team"], "go", "catalog meta")
	dcs, err := catalog.Datacenters()
	must(err, "datacenters")
	check(len(dcs) == 1, "one datacenter: %v", dcs)
	nodes, _, err := catalog.Nodes(nil)
	must(err, "nodes")
	check(len(nodes) >= 1, "nodes")

	must(agent.ServiceDeregister("go-web-1"), "deregister")
	must(agent.ServiceDeregister("go-api-1"), "deregister")
	entries, _, _ = health.Service("go-web", "", false, nil)
	equal(len(entries), 0, "deregistered")
	names, _, _ = catalog.Services(nil)
	var left []string
	for n := range names {
		if n != "consul" {
			left = append(left, n)
		}
	}
	sort.Strings(left)
	check(len(left) == 0, "no services left: %v", left)
}
