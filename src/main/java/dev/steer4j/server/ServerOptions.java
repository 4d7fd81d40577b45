package dev.steer4j.server;

import dev.steer4j.request.Steer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * How a server listens and what it allows.
 *
 * @param host the address to bind (127.0.0.1 by default: loopback only)
 * @param port the port (0: any free one)
 * @param vectors the folder whose vector files clients may name (null: inline vectors only)
 * @param apiKey the key every request must carry as {@code Authorization: Bearer KEY} (null: none)
 * @param maxBodyBytes the largest request body (larger: 413)
 * @param defaultSteer the steering of a request that sends no {@code steer}
 * @param log where the access log and warnings go, one line each
 */
public record ServerOptions(String host, int port, Path vectors, String apiKey, long maxBodyBytes, List<Steer> defaultSteer,
                            Consumer<String> log) {
    /** 1 MiB: room for inline vectors of GPT2-XL's width (1600 floats as JSON text, ~30 KB each) many times over. */
    public static final long DEFAULT_MAX_BODY = 1 << 20;
    /** How long SIGTERM lets running requests finish. */
    public static final Duration DEFAULT_GRACE = Duration.ofSeconds(30);

    public ServerOptions {
        Objects.requireNonNull(host, "host");
        defaultSteer = List.copyOf(defaultSteer);
        Objects.requireNonNull(log, "log");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be 0..65535, got " + port);
        if (maxBodyBytes < 1) throw new IllegalArgumentException("maxBodyBytes must be >= 1");
    }

    /** Loopback, the given port, no vectors folder, no key, default limits, no default steering, log to stderr. */
    public static ServerOptions loopback(int port) {
        return new ServerOptions("127.0.0.1", port, null, null, DEFAULT_MAX_BODY, List.of(), System.err::println);
    }

    public ServerOptions withVectors(Path dir) {
        return new ServerOptions(host, port, dir, apiKey, maxBodyBytes, defaultSteer, log);
    }

    public ServerOptions withApiKey(String key) {
        return new ServerOptions(host, port, vectors, key, maxBodyBytes, defaultSteer, log);
    }

    public ServerOptions withMaxBodyBytes(long bytes) {
        return new ServerOptions(host, port, vectors, apiKey, bytes, defaultSteer, log);
    }

    public ServerOptions withDefaultSteer(List<Steer> steer) {
        return new ServerOptions(host, port, vectors, apiKey, maxBodyBytes, steer, log);
    }

    public ServerOptions withLog(Consumer<String> sink) {
        return new ServerOptions(host, port, vectors, apiKey, maxBodyBytes, defaultSteer, sink);
    }
}
