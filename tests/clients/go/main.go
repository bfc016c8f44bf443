// The Go clients most applications run, unmodified, against Nacre: HashiCorp's Consul API
// package (github.com/hashicorp/consul/api) and nacos-sdk-go v2. The Rust tests in
// tests/clients_go.rs start nats-server and Nacre and run this program with their ports.
//
//	nacre-go-clients consul     127.0.0.1:CONSUL_PORT                 KV, txn, sessions, locks, agent, health, catalog
//	nacre-go-clients consul-acl 127.0.0.1:CONSUL_PORT MANAGEMENT_TOKEN policies and tokens, enforced
//	nacre-go-clients nacos      127.0.0.1 HTTP_PORT WORKDIR           configs, a namespace, naming, pushes
//
// It exits 1 with the failed expectation on any mismatch and prints one "... ok" line on success.
package main

import (
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: nacre-go-clients consul|consul-acl|nacos ARGS...")
	}
	defer func() {
		if r := recover(); r != nil {
			fmt.Printf("FAILED: %v\n%s", r, debug.Stack())
			os.Exit(1)
		}
	}()
	args := os.Args[2:]
	switch os.Args[1] {
	case "consul":
		consulScenario(args[0])
		fmt.Println("consul api acceptance: ok")
	case "consul-acl":
		consulACLScenario(args[0], args[1])
		fmt.Println("consul api acl acceptance: ok")
	case "nacos":
		nacosScenario(args[0], args[1], args[2])
		fmt.Println("nacos-sdk-go acceptance: ok")
	default:
		fail("unknown scenario %s", os.Args[1])
	}
}

func fail(format string, a ...any) {
	panic(fmt.Sprintf(format, a...))
}

func must(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

func check(ok bool, format string, a ...any) {
	if !ok {
		fail(format, a...)
	}
}

func equal(got, want any, what string) {
	if !reflect.DeepEqual(got, want) {
		fail("%s: got %#v, want %#v", what, got, want)
	}
}

// eventually polls cond every 50 ms until it holds or within passes.
func eventually(within time.Duration, what string, cond func() bool) {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			fail("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// receive waits for a value on ch that satisfies want.
func receive[T any](ch <-chan T, within time.Duration, what string, want func(T) bool) T {
	deadline := time.After(within)
	var seen []T
	for {
		select {
		case v := <-ch:
			if want(v) {
				return v
			}
			seen = append(seen, v)
		case <-deadline:
			fail("timed out after %v waiting for %s; saw %v", within, what, seen)
		}
	}
}
