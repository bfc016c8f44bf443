package main

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

type nacos struct {
	host    string
	port    uint64
	workdir string
}

func (n nacos) params(namespace string) vo.NacosClientParam {
	cc := constant.NewClientConfig(
		constant.WithNamespaceId(namespace),
		constant.WithTimeoutMs(5000),
		constant.WithNotLoadCacheAtStart(true),
		// Subscribers hear a service's last instance leave (the SDK's default drops empty pushes).
		constant.WithUpdateCacheWhenEmpty(true),
		constant.WithLogDir(n.workdir+"/log"),
		constant.WithCacheDir(n.workdir+"/cache"),
		constant.WithLogLevel("warn"),
	)
	return vo.NacosClientParam{
		ClientConfig:  cc,
		ServerConfigs: []constant.ServerConfig{*constant.NewServerConfig(n.host, n.port)},
	}
}

func (n nacos) config(namespace string) config_client.IConfigClient {
	c, err := clients.NewConfigClient(n.params(namespace))
	must(err, "NewConfigClient")
	return c
}

func (n nacos) naming(namespace string) naming_client.INamingClient {
	c, err := clients.NewNamingClient(n.params(namespace))
	must(err, "NewNamingClient")
	return c
}

func (n nacos) post(path string, form url.Values) {
	r, err := http.PostForm(fmt.Sprintf("http://%s:%d%s", n.host, n.port, path), form)
	must(err, "POST "+path)
	r.Body.Close()
	equal(r.StatusCode, 200, "POST "+path)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func nacosScenario(host, port, workdir string) {
	p, err := strconv.ParseUint(port, 10, 64)
	must(err, "port")
	n := nacos{host: host, port: p, workdir: workdir}
	n.configs()
	n.namingScenario()
}

func (n nacos) configs() {
	cs := n.config("")
	const id, group = "go.yaml", "DEFAULT_GROUP"
	ok, err := cs.PublishConfig(vo.ConfigParam{DataId: id, Group: group, Content: "a: 1", Type: "yaml"})
	must(err, "publish")
	check(ok, "published")
	got, err := cs.GetConfig(vo.ConfigParam{DataId: id, Group: group})
	must(err, "get")
	equal(got, "a: 1", "get after publish")

	// Compare-and-set.
	ok, _ = cs.PublishConfig(vo.ConfigParam{DataId: id, Group: group, Content: "stale", CasMd5: md5hex("nope")})
	check(!ok, "a stale casMd5 is refused")
	ok, err = cs.PublishConfig(vo.ConfigParam{DataId: id, Group: group, Content: "a: 2", CasMd5: md5hex("a: 1")})
	must(err, "cas")
	check(ok, "cas with the current md5")

	// A listener hears a change made over HTTP and one made by this client.
	changes := make(chan string, 16)
	must(cs.ListenConfig(vo.ConfigParam{DataId: id, Group: group, OnChange: func(_, _, _, data string) {
		changes <- data
	}}), "listen")
	n.post("/nacos/v1/cs/configs", url.Values{"dataId": {id}, "group": {group}, "content": {"a: 3"}})
	receive(changes, 15*time.Second, "the push of an HTTP publish", func(c string) bool { return c == "a: 3" })
	ok, err = cs.PublishConfig(vo.ConfigParam{DataId: id, Group: group, Content: "a: 4"})
	must(err, "publish")
	check(ok, "published")
	receive(changes, 15*time.Second, "the push of the client's own publish", func(c string) bool { return c == "a: 4" })
	must(cs.CancelListenConfig(vo.ConfigParam{DataId: id, Group: group}), "cancel listen")

	ok, err = cs.DeleteConfig(vo.ConfigParam{DataId: id, Group: group})
	must(err, "delete")
	check(ok, "deleted")
	got, _ = cs.GetConfig(vo.ConfigParam{DataId: id, Group: group})
	equal(got, "", "get after delete")

	// A namespace other than public.
	n.post("/nacos/v1/console/namespaces", url.Values{"customNamespaceId": {"go-dev"}, "namespaceName": {"go-dev"}})
	dev := n.config("go-dev")
	ok, err = dev.PublishConfig(vo.ConfigParam{DataId: "only-dev", Group: "G", Content: "dev!"})
	must(err, "publish in go-dev")
	check(ok, "published in go-dev")
	got, err = dev.GetConfig(vo.ConfigParam{DataId: "only-dev", Group: "G"})
	must(err, "get in go-dev")
	equal(got, "dev!", "get in go-dev")
	got, _ = cs.GetConfig(vo.ConfigParam{DataId: "only-dev", Group: "G"})
	equal(got, "", "not in public")
	dev.CloseClient()

	ok, err = cs.PublishConfig(vo.ConfigParam{DataId: "go-done", Group: group, Content: "by nacos-sdk-go"})
	must(err, "publish the marker")
	check(ok, "published the marker")
	cs.CloseClient()
}

func addrs(instances []model.Instance) string {
	var out []string
	for _, i := range instances {
		out = append(out, fmt.Sprintf("%s:%d", i.Ip, i.Port))
	}
	sort.Strings(out)
	return "[" + strings.Join(out, " ") + "]"
}

func (n nacos) namingScenario() {
	consumer := n.naming("")
	pushes := make(chan string, 64)
	must(consumer.Subscribe(&vo.SubscribeParam{ServiceName: "go-svc", SubscribeCallback: func(instances []model.Instance, err error) {
		if err == nil {
			pushes <- addrs(instances)
		}
	}}), "subscribe")

	// Two providers: one ephemeral instance per service per connection, as Nacos keeps them.
	p1, p2 := n.naming(""), n.naming("")
	register := func(c naming_client.INamingClient, service, ip string, port uint64, ephemeral bool) {
		ok, err := c.RegisterInstance(vo.RegisterInstanceParam{
			ServiceName: service, Ip: ip, Port: port, Weight: 2, Enable: true, Healthy: true,
			Ephemeral: ephemeral, Metadata: map[string]string{"lang": "go"},
		})
		must(err, "register "+service)
		check(ok, "registered %s %s", service, ip)
	}
	register(p1, "go-svc", "10.0.0.1", 8080, true)
	register(p2, "go-svc", "10.0.0.2", 8080, true)
	receive(pushes, 15*time.Second, "the registration push", func(a string) bool { return a == "[10.0.0.1:8080 10.0.0.2:8080]" })

	all, err := consumer.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "go-svc"})
	must(err, "SelectAllInstances")
	equal(addrs(all), "[10.0.0.1:8080 10.0.0.2:8080]", "SelectAllInstances")
	for _, i := range all {
		check(i.Healthy && i.Enable && i.Ephemeral && i.Weight == 2 && i.Metadata["lang"] == "go", "instance: %+v", i)
	}
	healthy, err := consumer.SelectInstances(vo.SelectInstancesParam{ServiceName: "go-svc", HealthyOnly: true})
	must(err, "SelectInstances")
	equal(addrs(healthy), "[10.0.0.1:8080 10.0.0.2:8080]", "healthy instances")
	one, err := consumer.SelectOneHealthyInstance(vo.SelectOneHealthInstanceParam{ServiceName: "go-svc"})
	must(err, "SelectOneHealthyInstance")
	equal(one.Port, uint64(8080), "one healthy instance")

	ok, err := p2.DeregisterInstance(vo.DeregisterInstanceParam{ServiceName: "go-svc", Ip: "10.0.0.2", Port: 8080, Ephemeral: true})
	must(err, "deregister")
	check(ok, "deregistered")
	receive(pushes, 15*time.Second, "the deregistration push", func(a string) bool { return a == "[10.0.0.1:8080]" })

	// A persistent instance (the SDK sends it over the HTTP API) outlives its client.
	register(p2, "go-db", "10.0.1.1", 5432, false)
	var dbs []model.Instance
	eventually(10*time.Second, "the persistent instance", func() bool {
		dbs, err = consumer.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "go-db"})
		must(err, "SelectAllInstances go-db")
		return addrs(dbs) == "[10.0.1.1:5432]"
	})
	check(!dbs[0].Ephemeral, "persistent: %+v", dbs[0])
	p2.CloseClient()

	list, err := consumer.GetAllServicesInfo(vo.GetAllServiceInfoParam{PageNo: 1, PageSize: 100})
	must(err, "GetAllServicesInfo")
	sort.Strings(list.Doms)
	check(strings.Contains(strings.Join(list.Doms, ","), "go-svc") && strings.Contains(strings.Join(list.Doms, ","), "go-db"), "service list: %v", list.Doms)

	// The ephemeral instance goes with its client's connection.
	p1.CloseClient()
	receive(pushes, 15*time.Second, "the push when the provider's connection closed", func(a string) bool { return a == "[]" })
	dbs, _ = consumer.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "go-db"})
	equal(addrs(dbs), "[10.0.1.1:5432]", "the persistent instance after its client closed (the subscription's view)")
	p3 := n.naming("")
	ok, err = p3.DeregisterInstance(vo.DeregisterInstanceParam{ServiceName: "go-db", Ip: "10.0.1.1", Port: 5432, Ephemeral: false})
	must(err, "deregister the persistent instance")
	check(ok, "deregistered the persistent instance")
	eventually(10*time.Second, "the persistent instance to go", func() bool {
		dbs, _ := consumer.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "go-db"})
		return len(dbs) == 0
	})

	// A namespace other than public.
	dev := n.naming("go-dev")
	register(dev, "go-dev-svc", "10.0.2.1", 9000, true)
	eventually(10*time.Second, "the instance in go-dev", func() bool {
		devs, err := dev.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "go-dev-svc"})
		must(err, "list in go-dev")
		return addrs(devs) == "[10.0.2.1:9000]"
	})
	public, _ := consumer.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "go-dev-svc"})
	equal(addrs(public), "[]", "not in public")

	// Left registered for the Rust side, which sees it go when this process exits.
	register(p3, "go-done", "10.0.9.9", 9999, true)
	dev.CloseClient()
	consumer.CloseClient()
}
