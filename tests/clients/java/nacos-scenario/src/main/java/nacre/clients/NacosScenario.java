package nacre.clients;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import com.alibaba.nacos.api.NacosFactory;
import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.config.ConfigService;
import com.alibaba.nacos.api.config.listener.AbstractListener;
import com.alibaba.nacos.api.exception.NacosException;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.listener.NamingEvent;
import com.alibaba.nacos.api.naming.pojo.Instance;
import com.alibaba.nacos.api.naming.pojo.ListView;
import com.alibaba.nacos.common.utils.VersionUtils;

/**
 * The official Java nacos-client, unmodified, against Nacre: the same source runs with the 2.x and
 * the 3.x client (two Maven modules).
 *
 * <pre>
 * java NacosScenario HOST HTTP_PORT scenario               configs, a namespace, naming, pushes
 * java NacosScenario HOST HTTP_PORT login USER PASSWORD    auth on: log in, write, read
 * java NacosScenario HOST HTTP_PORT refused USER PASSWORD  auth on, a wrong password: refused
 * java NacosScenario HOST HTTP_PORT failover ADDR,ADDR      prints "ready", then follows the
 *                                                          servers' ConnectResetRequest to the other
 * </pre>
 *
 * Exits 1 with the failed expectation on any mismatch; prints one "... ok" line per mode.
 */
public final class NacosScenario {

    private static final String GROUP = "DEFAULT_GROUP";

    private static final long WAIT_SECONDS = 15;

    private static String host;

    private static int port;

    public static void main(String[] args) {
        try {
            host = args[0];
            port = Integer.parseInt(args[1]);
            switch (args[2]) {
                case "scenario" -> {
                    configs();
                    naming();
                    System.out.println("nacos-client acceptance: ok (" + clientVersion() + ")");
                }
                case "login" -> login(args[3], args[4]);
                case "refused" -> refused(args[3], args[4]);
                case "failover" -> failover(args[3]);
                default -> throw new IllegalArgumentException("unknown mode " + args[2]);
            }
            System.out.flush();
            System.exit(0);
        } catch (Throwable e) {
            System.out.println("FAILED: " + e);
            e.printStackTrace(System.out);
            System.out.flush();
            System.exit(1);
        }
    }

    private static Properties props(String namespace) {
        Properties p = new Properties();
        p.put(PropertyKeyConst.SERVER_ADDR, host + ":" + port);
        p.put(PropertyKeyConst.NAMESPACE, namespace);
        return p;
    }

    private static Properties props(String namespace, String username, String password) {
        Properties p = props(namespace);
        p.put(PropertyKeyConst.USERNAME, username);
        p.put(PropertyKeyConst.PASSWORD, password);
        return p;
    }

    // ---- configs -------------------------------------------------------------------------------

    static void configs() throws Exception {
        ConfigService cs = NacosFactory.createConfigService(props(""));
        String id = "java.properties";
        String first = "greeting=h\u00e9llo\nn=1";
        check(cs.publishConfig(id, GROUP, first), "publish");
        equal(cs.getConfig(id, GROUP, 5000), first, "get after publish");

        // Compare-and-set: a stale md5 is refused and changes nothing; the current one wins.
        check(!cs.publishConfigCas(id, GROUP, "stale", md5("not the content")), "a stale casMd5 is refused");
        equal(cs.getConfig(id, GROUP, 5000), first, "unchanged by the refused cas");
        check(cs.publishConfigCas(id, GROUP, "n=2", md5(first)), "cas with the current md5");
        equal(cs.getConfig(id, GROUP, 5000), "n=2", "get after cas");

        // A listener hears a change made elsewhere (the HTTP API) and one made by this client.
        BlockingQueue<String> changes = new LinkedBlockingQueue<>();
        AbstractListener listener = new AbstractListener() {
            @Override
            public void receiveConfigInfo(String configInfo) {
                changes.add(configInfo);
            }
        };
        cs.addListener(id, GROUP, listener);
        httpPost("/nacos/v1/cs/configs", Map.of("dataId", id, "group", GROUP, "content", "n=3"));
        next(changes, "the push of an HTTP publish", "n=3"::equals);
        check(cs.publishConfig(id, GROUP, "n=4"), "publish through the client");
        next(changes, "the push of the client's own publish", "n=4"::equals);
        cs.removeListener(id, GROUP, listener);

        check(cs.removeConfig(id, GROUP), "remove");
        equal(cs.getConfig(id, GROUP, 5000), null, "get after remove");
        equal(httpGetStatus("/nacos/v1/cs/configs?dataId=" + id + "&group=" + GROUP), 404, "removed on the server");

        // A namespace other than public (created over the open API: Nacre refuses unknown ones).
        httpPost("/nacos/v1/console/namespaces", Map.of("customNamespaceId", "java-dev", "namespaceName", "java-dev"));
        ConfigService dev = NacosFactory.createConfigService(props("java-dev"));
        check(dev.publishConfig("only-dev", "G", "dev!"), "publish in java-dev");
        equal(dev.getConfig("only-dev", "G", 5000), "dev!", "get in java-dev");
        equal(cs.getConfig("only-dev", "G", 5000), null, "not in public");
        equal(httpGetStatus("/nacos/v1/cs/configs?dataId=only-dev&group=G&tenant=java-dev"), 200, "in java-dev on the server");
        dev.shutDown();

        // Left for the Rust side to read back over HTTP.
        check(cs.publishConfig("java-done", GROUP, "by " + clientVersion()), "publish the marker");
        cs.shutDown();
        System.out.println("configs: ok");
    }

    // ---- naming --------------------------------------------------------------------------------

    static void naming() throws Exception {
        NamingService consumer = NacosFactory.createNamingService(props(""));
        BlockingQueue<List<Instance>> pushes = new LinkedBlockingQueue<>();
        consumer.subscribe("java-svc", event -> {
            if (event instanceof NamingEvent e) {
                pushes.add(new ArrayList<>(e.getInstances()));
            }
        });

        // Two providers (one ephemeral instance per service per connection, as Nacos keeps them).
        NamingService p1 = NacosFactory.createNamingService(props(""));
        NamingService p2 = NacosFactory.createNamingService(props(""));
        Instance a = new Instance();
        a.setIp("10.0.0.1");
        a.setPort(8080);
        a.setWeight(2.0);
        a.setMetadata(new HashMap<>(Map.of("v", "1")));
        p1.registerInstance("java-svc", a);
        p2.registerInstance("java-svc", "10.0.0.2", 8080);
        next(pushes, "the registration push", hosts -> addrs(hosts).equals("[10.0.0.1:8080, 10.0.0.2:8080]"));

        List<Instance> all = consumer.getAllInstances("java-svc", false); // a server query
        equal(addrs(all), "[10.0.0.1:8080, 10.0.0.2:8080]", "getAllInstances");
        Instance got = all.stream().filter(i -> i.getIp().equals("10.0.0.1")).findFirst().orElseThrow();
        equal(got.getMetadata().get("v"), "1", "metadata");
        equal(got.getWeight(), 2.0, "weight");
        check(got.isEphemeral() && got.isHealthy() && got.isEnabled(), "ephemeral, healthy, enabled: " + got);
        equal(addrs(consumer.getAllInstances("java-svc")), "[10.0.0.1:8080, 10.0.0.2:8080]", "from the subscription");
        equal(addrs(consumer.selectInstances("java-svc", true)), "[10.0.0.1:8080, 10.0.0.2:8080]", "healthy");
        equal(addrs(consumer.selectInstances("java-svc", false)), "[]", "unhealthy");
        equal(consumer.selectOneHealthyInstance("java-svc").getPort(), 8080, "selectOneHealthyInstance");

        p2.deregisterInstance("java-svc", "10.0.0.2", 8080);
        next(pushes, "the deregistration push", hosts -> addrs(hosts).equals("[10.0.0.1:8080]"));

        // A persistent instance (ephemeral=false) outlives the client that registered it.
        Instance db = new Instance();
        db.setIp("10.0.1.1");
        db.setPort(5432);
        db.setEphemeral(false);
        p2.registerInstance("java-db", db);
        List<Instance> dbs = consumer.getAllInstances("java-db", false);
        equal(addrs(dbs), "[10.0.1.1:5432]", "the persistent instance");
        check(!dbs.get(0).isEphemeral() && dbs.get(0).isHealthy(), "persistent and healthy: " + dbs.get(0));
        p2.shutDown();

        ListView<String> services = consumer.getServicesOfServer(1, 100);
        check(services.getData().containsAll(List.of("java-svc", "java-db")), "service list: " + services.getData());

        // The ephemeral instance goes with its client's connection; the persistent one stays.
        p1.shutDown();
        next(pushes, "the push when the provider's connection closed", List::isEmpty);
        equal(addrs(consumer.getAllInstances("java-db", false)), "[10.0.1.1:5432]", "persistent after shutdown");
        NamingService p3 = NacosFactory.createNamingService(props(""));
        p3.deregisterInstance("java-db", db);
        equal(addrs(consumer.getAllInstances("java-db", false)), "[]", "persistent deregistered");

        // A namespace other than public.
        NamingService dev = NacosFactory.createNamingService(props("java-dev"));
        dev.registerInstance("java-dev-svc", "10.0.2.1", 9000);
        equal(addrs(dev.getAllInstances("java-dev-svc", false)), "[10.0.2.1:9000]", "in java-dev");
        equal(addrs(consumer.getAllInstances("java-dev-svc", false)), "[]", "not in public");

        // Left registered for the Rust side to list over HTTP.
        p3.registerInstance("java-done", "10.0.9.9", 9999);
        consumer.shutDown();
        dev.shutDown();
        System.out.println("naming: ok");
        // p3 stays connected until the process exits.
    }

    // ---- auth ----------------------------------------------------------------------------------

    static void login(String username, String password) throws Exception {
        ConfigService cs = NacosFactory.createConfigService(props("", username, password));
        check(cs.publishConfig("authed", GROUP, "secret-ok"), "publish with a login");
        equal(cs.getConfig("authed", GROUP, 5000), "secret-ok", "get with a login");
        NamingService ns = NacosFactory.createNamingService(props("", username, password));
        Instance db = new Instance();
        db.setIp("10.8.8.8");
        db.setPort(5432);
        db.setEphemeral(false);
        ns.registerInstance("authed-db", db);
        ns.registerInstance("authed-svc", "10.9.9.9", 80);
        equal(addrs(ns.getAllInstances("authed-svc", false)), "[10.9.9.9:80]", "list with a login");
        equal(addrs(ns.getAllInstances("authed-db", false)), "[10.8.8.8:5432]", "persistent with a login");
        cs.shutDown();
        ns.shutDown();
        System.out.println("logged in: ok");
    }

    static void refused(String username, String password) throws Exception {
        ConfigService cs = NacosFactory.createConfigService(props("", username, password));
        boolean published;
        try {
            published = cs.publishConfig("intruder", GROUP, "x");
        } catch (NacosException e) {
            published = false;
        }
        check(!published, "a publish without a valid login is refused");
        try {
            String content = cs.getConfig("authed", GROUP, 5000);
            throw new AssertionError("a read without a valid login answered " + content);
        } catch (NacosException e) {
            equal(e.getErrCode(), 403, "the refusal's code (" + e.getErrMsg() + ")");
        }
        NamingService ns = NacosFactory.createNamingService(props("", username, password));
        try {
            ns.registerInstance("intruder-svc", "10.6.6.6", 80);
            throw new AssertionError("a registration without a valid login was accepted");
        } catch (NacosException e) {
            System.out.println("registration refused: " + e.getErrCode() + " " + e.getErrMsg());
        }
        cs.shutDown();
        System.out.println("refused: ok");
    }

    // ---- failover ------------------------------------------------------------------------------

    /**
     * Connected to the first of two servers (the second is down when it starts), with an
     * ephemeral instance, a subscription and a config listener. The test then starts the second
     * and stops the first, which sends ConnectResetRequest: the client must move to the second,
     * register its instance again and keep hearing pushes there.
     */
    static void failover(String servers) throws Exception {
        Properties p = new Properties();
        p.put(PropertyKeyConst.SERVER_ADDR, servers);
        NamingService naming = NacosFactory.createNamingService(p);
        ConfigService config = NacosFactory.createConfigService(p);
        naming.registerInstance("java-failover", "10.5.5.5", 80);
        BlockingQueue<List<Instance>> pushes = new LinkedBlockingQueue<>();
        naming.subscribe("java-watch", event -> {
            if (event instanceof NamingEvent e) {
                pushes.add(new ArrayList<>(e.getInstances()));
            }
        });
        BlockingQueue<String> changes = new LinkedBlockingQueue<>();
        config.addListener("java-failover.properties", GROUP, new AbstractListener() {
            @Override
            public void receiveConfigInfo(String configInfo) {
                changes.add(configInfo);
            }
        });
        equal(addrs(naming.getAllInstances("java-failover", false)), "[10.5.5.5:80]", "registered");
        System.out.println("ready");
        System.out.flush();
        // Published and registered through the second server once the first has gone.
        next(changes, "a config push after the failover", "after=failover"::equals, 60);
        next(pushes, "a naming push after the failover", hosts -> addrs(hosts).equals("[10.6.6.6:80]"), 60);
        equal(addrs(naming.getAllInstances("java-failover", false)), "[10.5.5.5:80]", "registered again");
        System.out.println("failover: ok");
    }

    // ---- helpers -------------------------------------------------------------------------------

    static String clientVersion() {
        return "nacos-client " + VersionUtils.version;
    }

    static String addrs(List<Instance> hosts) {
        return hosts.stream()
                .map(i -> i.getIp() + ":" + i.getPort())
                .collect(Collectors.toCollection(TreeSet::new))
                .toString();
    }

    static <T> T next(BlockingQueue<T> queue, String what, Predicate<T> want) throws InterruptedException {
        return next(queue, what, want, WAIT_SECONDS);
    }

    static <T> T next(BlockingQueue<T> queue, String what, Predicate<T> want, long seconds)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        List<T> seen = new ArrayList<>();
        while (true) {
            T got = queue.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (got == null) {
                throw new AssertionError("timed out waiting for " + what + "; saw " + seen);
            }
            if (want.test(got)) {
                return got;
            }
            seen.add(got);
        }
    }

    static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    static void equal(Object got, Object want, String what) {
        if (got == null ? want != null : !got.equals(want)) {
            throw new AssertionError(what + ": got " + got + ", want " + want);
        }
    }

    static String md5(String s) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(s.getBytes(StandardCharsets.UTF_8)));
    }

    private static final HttpClient HTTP = HttpClient.newHttpClient();

    static void httpPost(String path, Map<String, String> form) throws Exception {
        String body = form.entrySet().stream()
                .map(e -> URLEncoder.encode(e.getKey(), StandardCharsets.UTF_8) + "="
                        + URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8))
                .collect(Collectors.joining("&"));
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + host + ":" + port + path))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        check(r.statusCode() == 200, "POST " + path + ": " + r.statusCode() + " " + r.body());
    }

    static int httpGetStatus(String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://" + host + ":" + port + path)).GET().build(),
                HttpResponse.BodyHandlers.ofString()).statusCode();
    }
}
