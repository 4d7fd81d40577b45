package dev.steer4j.server;

import dev.steer4j.Engine;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * {@code GET /metrics}: completions by outcome, tokens in and out, the engine's queue depth and running rows, its
 * forward passes and the time they took, request latency. Its own registry (not the JVM-wide default), so two
 * servers in one JVM (tests) count apart.
 */
final class ServerMetrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Counter requests;
    private final Counter tokens;
    private final Histogram latency;

    ServerMetrics(Supplier<Engine> engine) {
        requests = Counter.builder().name("steer4j_requests_total")
                .help("completion requests by outcome: ok, cancelled, bad_request, unauthorized, too_large, queue_full, unavailable, error")
                .labelNames("outcome").register(registry);
        tokens = Counter.builder().name("steer4j_tokens_total").help("prompt and generated tokens of finished choices")
                .labelNames("kind").register(registry);
        latency = Histogram.builder().name("steer4j_request_seconds").help("completion requests, received to last byte")
                .classicOnly().classicExponentialUpperBounds(0.01, 2, 14).register(registry);
        GaugeWithCallback.builder().name("steer4j_queue_depth").help("requests waiting for a slot")
                .callback(cb -> cb.call(engine.get() == null ? 0 : engine.get().queued())).register(registry);
        GaugeWithCallback.builder().name("steer4j_running_rows").help("requests in a slot of the batch now")
                .callback(cb -> cb.call(engine.get() == null ? 0 : engine.get().running())).register(registry);
        CounterWithCallback.builder().name("steer4j_engine_steps").help("forward passes run (prefills and decode steps)")
                .callback(cb -> cb.call(engine.get() == null ? 0 : engine.get().steps())).register(registry);
        CounterWithCallback.builder().name("steer4j_engine_step_seconds").help("seconds spent in forward passes, summed")
                .callback(cb -> cb.call(engine.get() == null ? 0 : engine.get().busySeconds())).register(registry);
    }

    void outcome(String outcome, double seconds) {
        requests.labelValues(outcome).inc();
        latency.observe(seconds);
    }

    void tokens(int prompt, int completion) {
        tokens.labelValues("prompt").inc(prompt);
        tokens.labelValues("completion").inc(completion);
    }

    /** The Prometheus text format. */
    String text() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            PrometheusTextFormatWriter.create().write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    static String contentType() {
        return PrometheusTextFormatWriter.CONTENT_TYPE;
    }
}
