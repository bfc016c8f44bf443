"""nacos-sdk-python (v2 API, gRPC), unmodified, against Nacre.

Usage: python nacos_sdk.py HOST HTTP_PORT WORKDIR scenario
       python nacos_sdk.py HOST HTTP_PORT WORKDIR hold SERVICE PORT   (registers, prints, waits to be killed)
       python nacos_sdk.py HOST HTTP_PORT WORKDIR login USERNAME PASSWORD  (auth on: log in, write, read)
Exits non-zero (with the failed assertion) on any mismatch.
"""
import asyncio
import sys
import urllib.parse
import urllib.request

from v2.nacos import (ClientConfigBuilder, ConfigParam, DeregisterInstanceParam, GRPCConfig,
                      ListInstanceParam, ListServiceParam, NacosConfigService, NacosNamingService,
                      RegisterInstanceParam, SubscribeServiceParam)
from v2.nacos.naming.model.naming_param import BatchRegisterInstanceParam

host, http_port, workdir, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def client_config(namespace="", username=None, password=None):
    builder = ClientConfigBuilder()
    if username is not None:
        builder = builder.username(username).password(password)
    return (builder
            .server_address(f"{host}:{http_port}")
            .namespace_id(namespace)
            .log_dir(workdir)
            .cache_dir(workdir)
            .log_level("WARNING")
            .grpc_config(GRPCConfig(grpc_timeout=5000))
            .build())


async def next_matching(queue, what, want):
    while True:
        try:
            got = await asyncio.wait_for(queue.get(), 15)
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out waiting for {what}")
        if want(got):
            return got


async def configs():
    cs = await NacosConfigService.create_config_service(client_config())
    assert await cs.publish_config(ConfigParam(data_id="py.properties", group="DEFAULT_GROUP", content="a=1"))
    assert await cs.get_config(ConfigParam(data_id="py.properties", group="DEFAULT_GROUP")) == "a=1"
    changes = asyncio.Queue()

    async def on_change(tenant, group, data_id, content):
        await changes.put(content)

    await cs.add_listener("py.properties", "DEFAULT_GROUP", on_change)
    await asyncio.sleep(0.5)
    assert await cs.publish_config(ConfigParam(data_id="py.properties", group="DEFAULT_GROUP", content="a=2"))
    await next_matching(changes, "the change push", lambda c: c == "a=2")
    assert await cs.remove_config(ConfigParam(data_id="py.properties", group="DEFAULT_GROUP"))
    await cs.shutdown()
    fresh = await NacosConfigService.create_config_service(client_config())
    assert await fresh.get_config(ConfigParam(data_id="py.properties", group="DEFAULT_GROUP")) == "", "removed"
    await fresh.shutdown()

    # A non-public namespace (created over the open API first: Nacre refuses unknown namespaces).
    form = urllib.parse.urlencode({"customNamespaceId": "py-dev", "namespaceName": "py-dev"}).encode()
    urllib.request.urlopen(f"http://{host}:{http_port}/nacos/v1/console/namespaces", data=form).read()
    dev = await NacosConfigService.create_config_service(client_config("py-dev"))
    assert await dev.publish_config(ConfigParam(data_id="only-dev", group="G", content="dev!"))
    assert await dev.get_config(ConfigParam(data_id="only-dev", group="G")) == "dev!"
    await dev.shutdown()
    public = await NacosConfigService.create_config_service(client_config())
    assert await public.get_config(ConfigParam(data_id="only-dev", group="G")) == "", "not in public"
    await public.shutdown()


async def naming():
    consumer = await NacosNamingService.create_naming_service(client_config())
    pushes = asyncio.Queue()

    async def on_push(instances):
        await pushes.put(sorted((i.ip, i.port) for i in instances))

    await consumer.subscribe(SubscribeServiceParam(service_name="py-svc", subscribe_callback=on_push))
    provider = await NacosNamingService.create_naming_service(client_config())
    assert await provider.batch_register_instances(BatchRegisterInstanceParam(service_name="py-svc", instances=[
        RegisterInstanceParam(service_name="py-svc", ip="10.0.0.1", port=80, metadata={"v": "1"}),
        RegisterInstanceParam(service_name="py-svc", ip="10.0.0.2", port=80),
    ]))
    await next_matching(pushes, "both instances", lambda h: len(h) == 2)
    listed = await consumer.list_instances(ListInstanceParam(service_name="py-svc", healthy_only=None))
    assert sorted((i.ip, i.port, i.healthy) for i in listed) == [("10.0.0.1", 80, True), ("10.0.0.2", 80, True)], listed
    assert await provider.deregister_instance(DeregisterInstanceParam(service_name="py-svc", ip="10.0.0.2", port=80))
    left = await next_matching(pushes, "the deregistration push", lambda h: len(h) == 1)
    assert left == [("10.0.0.1", 80)], left
    services = await consumer.list_services(ListServiceParam())
    assert services.count == 1 and services.services == ["py-svc"], services
    await provider.shutdown()
    await consumer.shutdown()


async def hold(service, port):
    ns = await NacosNamingService.create_naming_service(client_config())
    assert await ns.register_instance(RegisterInstanceParam(service_name=service, ip="10.7.7.7", port=port))
    print("registered", flush=True)
    await asyncio.sleep(3600)


async def login(username, password):
    cs = await NacosConfigService.create_config_service(client_config(username=username, password=password))
    assert await cs.publish_config(ConfigParam(data_id="authed", group="DEFAULT_GROUP", content="secret-ok"))
    assert await cs.get_config(ConfigParam(data_id="authed", group="DEFAULT_GROUP")) == "secret-ok"
    await cs.shutdown()
    print("logged in: ok", flush=True)


async def main():
    if mode == "login":
        await login(sys.argv[5], sys.argv[6])
        return
    if mode == "hold":
        await hold(sys.argv[5], int(sys.argv[6]))
        return
    await configs()
    await naming()
    print("nacos-sdk-python acceptance: ok")


asyncio.run(main())
