package main

import (
	"strings"

	"github.com/hashicorp/consul/api"
)

// A policy and a token made with the management token; the token may write what its policy
// grants and is refused the rest; deleted, it is refused everything.
func consulACLScenario(addr, management string) {
	admin := consulClient(addr, management)
	acl := admin.ACL()
	policy, _, err := acl.PolicyCreate(&api.ACLPolicy{
		Name:        "go-app",
		Description: "the Go app's keys",
		Rules:       `key_prefix "go-app/" { policy = "write" }`,
	}, nil)
	must(err, "policy create")
	check(policy.ID != "", "a policy id")
	policies, _, err := acl.PolicyList(nil)
	must(err, "policy list")
	found := false
	for _, p := range policies {
		found = found || p.Name == "go-app"
	}
	check(found, "the policy is listed")
	read, _, err := acl.PolicyRead(policy.ID, nil)
	must(err, "policy read")
	equal(read.Rules, policy.Rules, "rules")

	token, _, err := acl.TokenCreate(&api.ACLToken{
		Description: "go app",
		Policies:    []*api.ACLTokenPolicyLink{{ID: policy.ID}},
	}, nil)
	must(err, "token create")
	check(token.SecretID != "" && token.AccessorID != "", "a secret and an accessor")

	app := consulClient(addr, token.SecretID)
	self, _, err := app.ACL().TokenReadSelf(nil)
	must(err, "token self")
	equal(self.AccessorID, token.AccessorID, "token self")

	_, err = app.KV().Put(&api.KVPair{Key: "go-app/config", Value: []byte("ok")}, nil)
	must(err, "a write the policy grants")
	p, _, err := app.KV().Get("go-app/config", nil)
	must(err, "a read the policy grants")
	equal(string(p.Value), "ok", "value")

	_, err = app.KV().Put(&api.KVPair{Key: "other/config", Value: []byte("no")}, nil)
	check(err != nil && strings.Contains(err.Error(), "403") && strings.Contains(err.Error(), "Permission denied"),
		"a write outside the policy is refused: %v", err)
	err = app.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "go-app"})
	check(err != nil && strings.Contains(err.Error(), "Permission denied"), "a service write outside the policy is refused: %v", err)
	pairs, _, err := admin.KV().List("", nil)
	must(err, "admin list")
	for _, kv := range pairs {
		check(kv.Key != "other/config", "nothing was written outside the policy")
	}
	_, _, err = app.ACL().PolicyList(nil)
	check(err != nil, "the app token may not manage ACLs")

	tokens, _, err := acl.TokenList(nil)
	must(err, "token list")
	found = false
	for _, t := range tokens {
		found = found || t.AccessorID == token.AccessorID
	}
	check(found, "the token is listed")
	_, err = acl.TokenDelete(token.AccessorID, nil)
	must(err, "token delete")
	_, _, err = app.KV().Get("go-app/config", nil)
	check(err != nil && strings.Contains(err.Error(), "ACL not found"), "a deleted token is refused: %v", err)
	_, err = acl.PolicyDelete(policy.ID, nil)
	must(err, "policy delete")
}
