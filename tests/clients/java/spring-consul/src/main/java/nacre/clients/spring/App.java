package nacre.clients.spring;

import java.util.List;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.cloud.client.discovery.DiscoveryClient;
import org.springframework.cloud.context.config.annotation.RefreshScope;
import org.springframework.stereotype.Component;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;

/**
 * An ordinary Spring Cloud application: its configuration comes from the config starter (a
 * refreshable bean), it registers itself with the discovery starter, and it answers what its
 * DiscoveryClient sees. The Rust test drives it from outside over HTTP.
 */
@SpringBootApplication
@RestController
public class App {

    private final Greeting greeting;

    private final DiscoveryClient discovery;

    public App(Greeting greeting, DiscoveryClient discovery) {
        this.greeting = greeting;
        this.discovery = discovery;
    }

    public static void main(String[] args) {
        SpringApplication.run(App.class, args);
    }

    /** The refreshable bean's current value. */
    @GetMapping("/greeting")
    public String greeting() {
        return greeting.text();
    }

    /** The instances of a service as the discovery client sees them, "host:port", sorted. */
    @GetMapping("/discover/{name}")
    public List<String> discover(@PathVariable String name) {
        return discovery.getInstances(name).stream().map(i -> i.getHost() + ":" + i.getPort()).sorted().toList();
    }

    @Component
    @RefreshScope
    public static class Greeting {

        @Value("${greeting:unset}")
        private String text;

        public String text() {
            return text;
        }
    }
}
