"""py-consul, unmodified, against Nacre's Consul ACLs: policies, tokens, and their enforcement.

Usage: python consul_acl.py HOST PORT MANAGEMENT_TOKEN. Exits non-zero on any mismatch.
"""
import sys

import consul

host, port, management = sys.argv[1], int(sys.argv[2]), sys.argv[3]
admin = consul.Consul(host=host, port=port, token=management)


def refused(call):
    try:
        call()
    except consul.ACLPermissionDenied:
        return True
    raise AssertionError("expected a permission refusal")


# py-consul sends rules as JSON and links policies by name.
policy = admin.acl.policy.create(
    name="py-app",
    description="py-consul acceptance",
    rules={"key_prefix": {"py/": {"policy": "write"}}, "service_prefix": {"py-": {"policy": "write"}}},
)
assert policy["Name"] == "py-app" and policy["ID"], policy
token = admin.acl.token.create(policies_name=["py-app"], description="py", expiration_ttl="1h")
assert token["SecretID"] and token["Policies"][0]["Name"] == "py-app", token
assert "ExpirationTime" in token, token

app = consul.Consul(host=host, port=port, token=token["SecretID"])
assert app.kv.put("py/a", "1") is True
assert app.kv.get("py/a")[1]["Value"] == b"1"
refused(lambda: app.kv.put("elsewhere", "1"))
assert app.agent.service.register("py-web", port=80) is True
refused(lambda: app.agent.service.register("db", port=5432))
assert app.acl.token.read_self()["AccessorID"] == token["AccessorID"]
refused(lambda: app.acl.token.list())

anonymous = consul.Consul(host=host, port=port)
refused(lambda: anonymous.kv.get("py/a"))

listed = [t["AccessorID"] for t in admin.acl.token.list()]
assert token["AccessorID"] in listed, listed
assert admin.acl.token.read(token["AccessorID"])["SecretID"] == "<hidden>"
assert admin.acl.token.delete(token["AccessorID"]) is True
refused(lambda: app.kv.get("py/a"))
assert admin.acl.policy.delete(policy["ID"]) is True

print("py-consul acl acceptance: ok")
