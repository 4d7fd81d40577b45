package dev.steer4j.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.steer4j.Engine;
import dev.steer4j.InvalidInputException;
import dev.steer4j.QueueFullException;
import dev.steer4j.request.Result;
import io.javalin.Javalin;
import io.javalin.compression.CompressionStrategy;
import io.javalin.http.Context;
import io.javalin.http.Handler;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code steer4j serve}: OpenAI's {@code /v1/completions} (streamed or not) over one {@link Engine}, so requests
 * of all clients, each with its own steering, share one continuous batch; plus {@code /v1/models},
 * {@code /v1/vectors}, {@code /health} and {@code /metrics}. HTTP is Javalin on Jetty 12 (a small, maintained
 * server whose handlers are plain blocking Java, which suits one waiting thread per stream). The engine's
 * thread only queues text ({@link CompletionRun}); each request's HTTP thread writes it.
 *
 * <p>Started before the model loads ({@code /health} is 503 until {@link #ready}), so a supervisor can watch it
 * come up; {@link #shutdown} stops taking work, lets what runs finish within a grace period, then stops.
 */
public final class OpenAiServer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long POLL_MILLIS = 1000; // a stream's keep-alive, and how soon a gone client is seen
    private static final long DRAIN_BYTES = 16L << 20; // what an oversized body may still send before its 413

    private final ServerOptions options;
    private final ApiKey key;
    private final VectorLibrary vectors;
    private final ServerMetrics metrics;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final Javalin app;
    private volatile Engine engine;
    private volatile String modelName;
    private volatile boolean draining;
    private boolean stopped;
    private final long created = System.currentTimeMillis() / 1000;

    private OpenAiServer(ServerOptions options) {
        this.options = options;
        this.key = options.apiKey() == null ? null : new ApiKey(options.apiKey());
        this.vectors = new VectorLibrary(options.vectors());
        this.metrics = new ServerMetrics(() -> engine);
        this.app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.startup.showOldJavalinVersionWarning = false;
            config.http.compressionStrategy = CompressionStrategy.NONE; // a stream's chunks must leave at once
            config.http.maxRequestSize = options.maxBodyBytes();
            config.routes.get("/health", this::health);
            config.routes.get("/metrics", guarded(false, this::metricsText));
            config.routes.get("/v1/models", guarded(false, this::models));
            config.routes.get("/v1/vectors", guarded(false, this::vectorList));
            config.routes.post("/v1/completions", guarded(true, this::completions));
            config.requestLogger.http((ctx, ms) -> options.log().accept(String.format(java.util.Locale.ROOT,
                    "steer4j serve: %s %s %s %d %.1f ms", ctx.ip(), ctx.method(), ctx.path(), ctx.statusCode(), ms)));
        });
    }

    /**
     * Binds and starts serving; completions are 503 until {@link #ready}.
     *
     * @throws IllegalStateException when the address cannot be bound (the message says which)
     */
    public static OpenAiServer start(ServerOptions options) {
        OpenAiServer server = new OpenAiServer(options);
        try {
            server.app.start(options.host(), options.port());
        } catch (RuntimeException e) {
            server.app.stop();
            throw new IllegalStateException("cannot listen on " + options.host() + ":" + options.port() + ": "
                    + rootMessage(e), e);
        }
        if (server.key == null && !isLoopback(options.host())) {
            options.log().accept("steer4j serve: WARNING: listening on " + options.host() + " without an API key: anyone who"
                    + " can reach this address can use the model (--api-key-file F or STEER4J_API_KEY)");
        }
        return server;
    }

    /** The model is loaded: completions run on {@code engine}, and {@code /v1/models} names it {@code name}. */
    public void ready(Engine engine, String name) {
        this.modelName = name;
        this.engine = engine;
    }

    /** The port it listens on (the one chosen when 0 was asked). */
    public int port() {
        return app.port();
    }

    /**
     * Stops taking requests (503), lets those running finish for at most {@code grace}, cancels the rest (their
     * streams end with an error event), then closes the listener. The engine is shut down too; its session and
     * model stay the caller's to close.
     *
     * @return true if every request finished within the grace period
     */
    public synchronized boolean shutdown(Duration grace) {
        if (stopped) return true;
        stopped = true;
        draining = true;
        Engine e = engine;
        boolean all = e == null || e.shutdown(grace);
        // the handlers of cancelled requests write their last bytes: give them a moment, bounded
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (inFlight.get() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        app.stop();
        return all;
    }

    @Override
    public void close() {
        shutdown(Duration.ZERO);
    }

    // ---- routes

    private void health(Context ctx) {
        boolean up = engine != null && !draining;
        ctx.status(up ? 200 : 503).contentType("application/json")
                .result(up ? "{\"status\":\"ok\"}" : draining ? "{\"status\":\"shutting down\"}" : "{\"status\":\"loading\"}");
    }

    private void metricsText(Context ctx) {
        ctx.contentType(ServerMetrics.contentType()).result(metrics.text());
    }

    private void models(Context ctx) {
        ObjectNode out = JSON.createObjectNode().put("object", "list");
        ArrayNode data = out.putArray("data");
        if (modelName != null) {
            data.addObject().put("id", modelName).put("object", "model").put("created", created).put("owned_by", "steer4j");
        }
        json(ctx, 200, out);
    }

    private void vectorList(Context ctx) {
        ObjectNode out = JSON.createObjectNode().put("object", "list");
        ArrayNode data = out.putArray("data");
        for (VectorLibrary.Entry e : vectors.list()) {
            ObjectNode v = data.addObject().put("name", e.name()).put("file", e.file()).put("width", e.width());
            e.modules().forEach(v.putArray("modules")::add);
        }
        json(ctx, 200, out);
    }

    /** Counted in flight from its first line, so that a shutdown waits for a request still being read. */
    private void completions(Context ctx) throws IOException, InterruptedException {
        inFlight.incrementAndGet();
        try {
            complete(ctx);
        } finally {
            inFlight.decrementAndGet();
        }
    }

    private void complete(Context ctx) throws IOException, InterruptedException {
        Engine running = engine;
        if (draining) throw new ApiError(503, "server_error", null, "the server is shutting down");
        if (running == null) throw new ApiError(503, "server_error", null, "the model is still loading: try again shortly");
        JsonNode body = readBody(ctx);
        CompletionRequest request;
        try {
            request = CompletionRequest.parse(body, modelName, vectors, options.defaultSteer());
        } catch (InvalidInputException e) {
            throw ApiError.invalid(null, e.getMessage());
        }
        CompletionRun run;
        try {
            run = new CompletionRun(running, request.requests(), request.stops());
        } catch (QueueFullException e) {
            ctx.header("Retry-After", "1");
            throw new ApiError(429, "rate_limit_error", null, e.getMessage());
        } catch (IllegalStateException e) {
            throw new ApiError(503, "server_error", null, "the server is shutting down");
        }
        if (request.stream()) stream(ctx, run, request);
        else whole(ctx, run, request);
    }

    /** Not streamed: waits for every choice, then one JSON object. */
    private void whole(Context ctx, CompletionRun run, CompletionRequest request) throws InterruptedException {
        CompletionRun.Done[] done = new CompletionRun.Done[run.size()];
        for (int left = run.size(); left > 0; ) {
            CompletionRun.Event e = run.next(POLL_MILLIS);
            if (e instanceof CompletionRun.Done d) {
                done[d.index()] = d;
                left--;
            } else if (e instanceof CompletionRun.Failed f) {
                run.cancel();
                throw failure(f.error());
            }
        }
        ObjectNode out = head("text_completion");
        ArrayNode choices = out.putArray("choices");
        for (CompletionRun.Done d : done) {
            choices.addObject().put("text", d.text()).put("index", d.index()).putNull("logprobs").put("finish_reason", d.finishReason());
        }
        out.set("usage", usage(done, request.n()));
        json(ctx, 200, out);
    }

    /**
     * Streamed: server-sent events, one chunk per piece of text, one per finished choice, usage last when asked,
     * then {@code [DONE]}. Headers wait until every choice has run or failed, so a request the engine refuses (a
     * vector of the wrong width, a prompt too long) is a plain 400. A client gone mid-stream makes a write
     * fail: its choices are cancelled and leave the batch at the next step.
     */
    private void stream(Context ctx, CompletionRun run, CompletionRequest request) throws IOException, InterruptedException {
        List<CompletionRun.Event> early = new ArrayList<>();
        boolean[] started = new boolean[run.size()];
        for (int unseen = run.size(); unseen > 0; ) {
            CompletionRun.Event e = run.next(POLL_MILLIS);
            if (e == null) continue;
            if (e instanceof CompletionRun.Failed f) {
                run.cancel();
                throw failure(f.error());
            }
            early.add(e);
            if (!started[e.index()]) {
                started[e.index()] = true;
                unseen--;
            }
        }
        ctx.status(200);
        ctx.res().setContentType("text/event-stream");
        ctx.res().setCharacterEncoding("utf-8");
        ctx.res().setHeader("Cache-Control", "no-cache");
        OutputStream out = ctx.res().getOutputStream();
        String id = "cmpl-" + UUID.randomUUID();
        CompletionRun.Done[] done = new CompletionRun.Done[run.size()];
        int left = run.size();
        try {
            for (CompletionRun.Event e : early) left -= send(out, id, e, done);
            out.flush();
            while (left > 0) {
                CompletionRun.Event e = run.next(POLL_MILLIS);
                if (e == null) {
                    out.write(": keep-alive\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    continue;
                }
                if (e instanceof CompletionRun.Failed f) {
                    run.cancel();
                    ApiError error = failure(f.error());
                    ctx.attribute("outcome", error.status == 503 ? "cancelled" : "error");
                    event(out, errorBody(error));
                    break;
                }
                left -= send(out, id, e, done);
                out.flush();
            }
            if (left == 0 && request.includeUsage()) {
                ObjectNode last = head("text_completion", id);
                last.putArray("choices");
                last.set("usage", usage(done, request.n()));
                event(out, last);
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException gone) {
            run.cancel(); // the client left: free its slots before the next step
            ctx.attribute("outcome", "cancelled");
        }
    }

    /** Writes one event's chunk; returns 1 when it finished a choice. */
    private int send(OutputStream out, String id, CompletionRun.Event e, CompletionRun.Done[] done) throws IOException {
        ObjectNode chunk = head("text_completion", id);
        ObjectNode choice = chunk.putArray("choices").addObject();
        if (e instanceof CompletionRun.Text t) {
            choice.put("text", t.text()).put("index", t.index()).putNull("logprobs").putNull("finish_reason");
            event(out, chunk);
            return 0;
        }
        CompletionRun.Done d = (CompletionRun.Done) e;
        done[d.index()] = d;
        choice.put("text", "").put("index", d.index()).putNull("logprobs").put("finish_reason", d.finishReason());
        event(out, chunk);
        return 1;
    }

    private static void event(OutputStream out, JsonNode data) throws IOException {
        out.write(("data: " + JSON.writeValueAsString(data) + "\n\n").getBytes(StandardCharsets.UTF_8));
    }

    private ObjectNode usage(CompletionRun.Done[] done, int n) {
        int prompt = 0;
        int completion = 0;
        for (CompletionRun.Done d : done) {
            if (d == null) continue;
            if (d.index() % n == 0) prompt += d.result().ids().length; // a prompt counts once, whatever n
            completion += d.result().newIds().length;
        }
        metrics.tokens(prompt, completion);
        return JSON.createObjectNode().put("prompt_tokens", prompt).put("completion_tokens", completion)
                .put("total_tokens", prompt + completion);
    }

    private ObjectNode head(String object) {
        return head(object, "cmpl-" + UUID.randomUUID());
    }

    private ObjectNode head(String object, String id) {
        return JSON.createObjectNode().put("id", id).put("object", object).put("created", System.currentTimeMillis() / 1000)
                .put("model", modelName);
    }

    /** A choice that could not run: the engine's reason (bad input: 400), or a shutdown (503). */
    private static ApiError failure(Throwable t) {
        if (t instanceof InvalidInputException) return ApiError.invalid(param(t.getMessage()), t.getMessage());
        if (t instanceof CancellationException || t instanceof IllegalStateException) {
            return new ApiError(503, "server_error", null, "the request was cancelled: the server is shutting down");
        }
        String first = String.valueOf(t.getMessage()).strip().lines().findFirst().orElse("");
        return new ApiError(500, "server_error", null, "internal error: " + t.getClass().getSimpleName() + ": " + first);
    }

    /** Which request field an engine refusal is about, by what its message speaks of. */
    private static String param(String message) {
        String m = String.valueOf(message).toLowerCase(java.util.Locale.ROOT);
        if (m.contains("steer") || m.contains("module") || m.contains("vector") || m.contains("coefficient") || m.contains("width")) {
            return "steer";
        }
        if (m.contains("position") || m.contains("context") || m.contains("token")) return "max_tokens";
        return null;
    }

    // ---- plumbing

    /** Key check, error bodies, and the completions' outcome count, around a route. */
    private Handler guarded(boolean counted, Handler route) {
        return ctx -> {
            long start = System.nanoTime();
            try {
                if (key != null && !key.admits(ctx.header("Authorization"))) {
                    throw new ApiError(401, "invalid_request_error", null,
                            "missing or wrong API key: send the header Authorization: Bearer KEY");
                }
                route.handle(ctx);
            } catch (ApiError e) {
                error(ctx, e);
            } catch (InvalidInputException e) {
                error(ctx, ApiError.invalid(null, e.getMessage()));
            } catch (Exception e) {
                options.log().accept("steer4j serve: internal error on " + ctx.path() + ": " + e);
                error(ctx, new ApiError(500, "server_error", null, "internal error: " + e.getClass().getSimpleName()));
            } finally {
                if (counted) metrics.outcome(outcome(ctx), (System.nanoTime() - start) / 1e9);
            }
        };
    }

    private static String outcome(Context ctx) {
        String set = ctx.attribute("outcome");
        if (set != null) return set;
        return switch (ctx.statusCode()) {
            case 200 -> "ok";
            case 400, 404 -> "bad_request";
            case 401 -> "unauthorized";
            case 413 -> "too_large";
            case 429 -> "queue_full";
            case 503 -> "unavailable";
            default -> "error";
        };
    }

    private JsonNode readBody(Context ctx) throws IOException {
        long limit = options.maxBodyBytes();
        InputStream in = ctx.req().getInputStream();
        if (ctx.req().getContentLengthLong() > limit) throw tooLarge(ctx, in, limit);
        byte[] bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
        if (bytes.length > limit) throw tooLarge(ctx, in, limit);
        try {
            return JSON.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw ApiError.invalid(null, "the body is not valid JSON: " + e.getOriginalMessage());
        }
    }

    /**
     * 413. The rest of the body is read and dropped first, up to a bound: closing a connection with unread bytes
     * makes the kernel reset it, and the client, still sending, would never see the answer. Beyond the bound the
     * connection is closed all the same.
     */
    private static ApiError tooLarge(Context ctx, InputStream in, long limit) {
        long bound = Math.max(DRAIN_BYTES, 4 * limit);
        try {
            for (long skipped = 0; skipped < bound; ) {
                long n = in.skip(Math.min(1 << 16, bound - skipped));
                if (n <= 0 && in.read() < 0) break;
                skipped += Math.max(n, 1);
            }
        } catch (IOException e) {
            // the client is gone or sent less than it said: the answer may not reach it either way
        }
        ctx.header("Connection", "close");
        return new ApiError(413, "invalid_request_error", null, "the request body is larger than this server's limit of "
                + limit + " bytes");
    }

    private static void error(Context ctx, ApiError e) {
        if (ctx.res().isCommitted()) return; // a stream already under way ends as it can
        json(ctx, e.status, errorBody(e));
    }

    private static ObjectNode errorBody(ApiError e) {
        ObjectNode out = JSON.createObjectNode();
        ObjectNode err = out.putObject("error").put("message", e.getMessage()).put("type", e.type);
        if (e.param == null) err.putNull("param");
        else err.put("param", e.param);
        err.putNull("code");
        return out;
    }

    private static void json(Context ctx, int status, JsonNode body) {
        try {
            ctx.status(status).contentType("application/json").result(JSON.writeValueAsString(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) c = c.getCause();
        return c.getMessage() == null ? c.getClass().getSimpleName() : c.getMessage();
    }
}
