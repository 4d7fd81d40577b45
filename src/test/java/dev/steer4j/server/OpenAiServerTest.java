package dev.steer4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Engine;
import dev.steer4j.Fixtures;
import dev.steer4j.Model;
import dev.steer4j.Session;
import dev.steer4j.cli.Main;
import dev.steer4j.request.Request;
import dev.steer4j.request.Steer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real server on a free loopback port over the reference model, driven by Java's HttpClient: greedy results
 * equal the reference fixtures and {@code steer4j generate}; clients with opposite steering get their own results;
 * every refusal has its status and message; the key is enforced.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class OpenAiServerTest {
    static final String PROMPT = "I think dogs are ";
    static final JsonNode GREEDY = Fixtures.expected("greedy.json");
    static final float[] UNIT = Fixtures.floats(Fixtures.expected("actadd.json").get("last_token").get("unit_vector"));
    static final String BLOCK = "transformer.h.1";
    static final String KEY = "sk-steer4j-test-0123456789";

    @TempDir
    static Path dir;
    static Path modelFile;
    static Path vectors;
    static Model model;
    static Session session;
    static Engine engine;
    static OpenAiServer server;
    static Http http;
    static final List<String> log = java.util.Collections.synchronizedList(new ArrayList<>());

    @BeforeAll
    static void start() throws Exception {
        modelFile = dir.resolve("tiny.pt");
        Fixtures.saveConverted(modelFile);
        vectors = Files.createDirectories(dir.resolve("vectors"));
        Fixtures.writeVectors(vectors);
        Files.copy(vectors.resolve("last.safetensors"), dir.resolve("outside.safetensors"));
        Files.createSymbolicLink(vectors.resolve("escape.safetensors"), dir.resolve("outside.safetensors"));
        model = Model.load(modelFile);
        session = model.session();
        engine = session.engine(4, 64);
        server = OpenAiServer.start(ServerOptions.loopback(0).withVectors(vectors).withApiKey(KEY).withMaxBodyBytes(64 << 10)
                .withLog(log::add));
        server.ready(engine, "tiny");
        http = new Http(server.port(), KEY);
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (session != null) session.close();
        if (model != null) model.close();
    }

    static String inline(double coef) {
        StringBuilder v = new StringBuilder("[");
        for (int i = 0; i < UNIT.length; i++) v.append(i > 0 ? "," : "").append(UNIT[i]);
        return "[{\"module\":\"" + BLOCK + "\",\"values\":" + v + "],\"coef\":" + coef + "}]";
    }

    static String greedy(String steer, boolean stream, int maxTokens) {
        return Http.body("model", "\"tiny\"", "prompt", "\"" + PROMPT + "\"", "max_tokens", Integer.toString(maxTokens),
                "temperature", "0", "stream", Boolean.toString(stream), "steer", steer);
    }

    static String text(HttpResponse<String> r, boolean stream) {
        assertEquals(200, r.statusCode(), r.body());
        return stream ? Http.streamedText(r.body()) : Http.json(r.body()).get("choices").get(0).get("text").asText();
    }

    /** What {@code steer4j generate --greedy --json} prints for the same request. */
    static String generateCli(String... steer) {
        List<String> args = new ArrayList<>(List.of("generate", "--model", modelFile.toString(), "--prompt", PROMPT,
                "--max-new-tokens", "12", "--greedy", "--json"));
        for (String s : steer) args.addAll(List.of("--steer", s));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
        return Http.json(out.toString(StandardCharsets.UTF_8)).get("results").get(0).get("text").asText();
    }

    @Test
    void greedyResultsEqualTheReferenceAndGenerate() throws Exception {
        String plain = GREEDY.get("unsteered").get("text").asText();
        String plus = GREEDY.get("steered_last_token_unit_every_position_c10").get("text").asText();
        for (boolean stream : new boolean[]{false, true}) {
            assertEquals(plain, text(http.post("/v1/completions", greedy("[]", stream, 12)), stream));
            assertEquals(plus, text(http.post("/v1/completions", greedy("[{\"vector\":\"last\",\"coef\":10}]", stream, 12)), stream));
            assertEquals(plus, text(http.post("/v1/completions", greedy(inline(10), stream, 12)), stream));
        }
        String minus = generateCli(vectors.resolve("last.safetensors") + "*-10");
        assertNotEquals(plus, minus);
        assertEquals(minus, text(http.post("/v1/completions", greedy("[{\"vector\":\"last.safetensors\",\"coef\":-10}]", false, 12)), false));
        assertEquals(minus, text(http.post("/v1/completions", greedy(inline(-10), true, 12)), true));
        assertEquals(plain, generateCli());

        JsonNode whole = Http.json(http.post("/v1/completions", greedy("[]", false, 12)).body());
        assertEquals("text_completion", whole.get("object").asText());
        assertEquals("tiny", whole.get("model").asText());
        assertEquals("length", whole.get("choices").get(0).get("finish_reason").asText());
        assertEquals(5, whole.get("usage").get("prompt_tokens").asInt());
        assertEquals(12, whole.get("usage").get("completion_tokens").asInt());
        assertEquals(17, whole.get("usage").get("total_tokens").asInt());

        HttpResponse<String> streamed = http.post("/v1/completions", Http.body("prompt", "\"" + PROMPT + "\"", "max_tokens", "12",
                "temperature", "0", "stream", "true", "stream_options", "{\"include_usage\":true}"));
        assertTrue(streamed.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<JsonNode> events = Http.events(streamed.body());
        assertEquals("[DONE]", events.get(events.size() - 1).asText());
        JsonNode last = events.get(events.size() - 2);
        assertEquals(0, last.get("choices").size());
        assertEquals(17, last.get("usage").get("total_tokens").asInt());
        assertEquals("length", events.get(events.size() - 3).get("choices").get(0).get("finish_reason").asText());
    }

    /** A stop string ends the choice before it, streamed or not, and is never sent. */
    @Test
    void aStopStringEndsTheTextBeforeIt() throws Exception {
        String plain = GREEDY.get("unsteered").get("text").asText();
        String stop = plain.substring(6, 9);
        String expected = plain.substring(0, plain.indexOf(stop));
        for (boolean stream : new boolean[]{false, true}) {
            HttpResponse<String> r = http.post("/v1/completions", Http.body("prompt", "\"" + PROMPT + "\"", "max_tokens", "12",
                    "temperature", "0", "stream", Boolean.toString(stream), "stop", Http.JSON.writeValueAsString(List.of(stop))));
            assertEquals(expected, text(r, stream));
            assertTrue(r.body().contains("\"finish_reason\":\"stop\""), r.body());
        }
    }

    @Test
    void concurrentClientsWithOppositeSteeringEachGetTheirOwnResult() throws Exception {
        String plus = GREEDY.get("steered_last_token_unit_every_position_c10").get("text").asText();
        String minus = generateCli(vectors.resolve("last.safetensors") + "*-10");
        ExecutorService clients = Executors.newFixedThreadPool(2);
        try {
            List<Future<List<String>>> sides = new ArrayList<>();
            for (String steer : List.of("[{\"vector\":\"last\",\"coef\":10}]", inline(-10))) {
                sides.add(clients.submit(() -> {
                    List<String> texts = new ArrayList<>();
                    for (int i = 0; i < 4; i++) {
                        boolean stream = i % 2 == 1;
                        texts.add(text(http.post("/v1/completions", greedy(steer, stream, 12)), stream));
                    }
                    return texts;
                }));
            }
            assertEquals(List.of(plus, plus, plus, plus), sides.get(0).get(2, TimeUnit.MINUTES));
            assertEquals(List.of(minus, minus, minus, minus), sides.get(1).get(2, TimeUnit.MINUTES));
        } finally {
            clients.shutdownNow();
        }
    }

    static void refused(int status, String param, String words, HttpResponse<String> r) {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode error = Http.json(r.body()).get("error");
        String message = error.get("message").asText();
        assertTrue(message.contains(words), message);
        assertFalse(message.contains("\n"), "one line: " + message);
        if (param != null) assertEquals(param, error.get("param").asText(), r.body());
    }

    @Test
    void eachBadRequestGetsItsStatusAndMessage() throws Exception {
        String p = "\"" + PROMPT + "\"";
        refused(400, null, "not valid JSON", http.post("/v1/completions", "{\"prompt\": "));
        refused(400, "prompt", "\"prompt\"", http.post("/v1/completions", Http.body("max_tokens", "3")));
        refused(400, "prompt", "token-id", http.post("/v1/completions", Http.body("prompt", "[[1,2,3]]")));
        refused(400, "max_tokens", "max_tokens", http.post("/v1/completions", Http.body("prompt", p, "max_tokens", "-1")));
        refused(400, "temperature", "temperature", http.post("/v1/completions", Http.body("prompt", p, "temperature", "\"hot\"")));
        refused(400, "n", "\"n\"", http.post("/v1/completions", Http.body("prompt", p, "n", "0")));
        refused(400, "logprobs", "logprobs", http.post("/v1/completions", Http.body("prompt", p, "logprobs", "3")));
        refused(400, "echo", "echo", http.post("/v1/completions", Http.body("prompt", p, "echo", "true")));
        refused(400, "best_of", "best_of", http.post("/v1/completions", Http.body("prompt", p, "best_of", "3")));
        refused(400, "presence_penalty", "presence_penalty", http.post("/v1/completions", Http.body("prompt", p, "presence_penalty", "0.5")));
        refused(404, "model", "gpt-4", http.post("/v1/completions", Http.body("model", "\"gpt-4\"", "prompt", p)));
        // beyond the model's 64 positions: the engine's refusal, streamed or not, before any event
        for (String stream : List.of("false", "true")) {
            refused(400, "max_tokens", "64", http.post("/v1/completions", Http.body("prompt", p, "max_tokens", "100", "stream", stream)));
            refused(400, "steer", "width", http.post("/v1/completions", Http.body("prompt", p, "stream", stream,
                    "steer", "[{\"module\":\"" + BLOCK + "\",\"values\":[1,2,3]}]")));
        }
        refused(400, "steer", "transformer.h.99", http.post("/v1/completions", Http.body("prompt", p,
                "steer", "[{\"module\":\"transformer.h.99\",\"values\":" + Http.JSON.writeValueAsString(UNIT) + "}]")));
        refused(400, "steer", "overflows", http.post("/v1/completions", Http.body("prompt", p, "steer", "[{\"vector\":\"last\",\"coef\":1e39}]")));
        refused(400, "steer", "overflows", http.post("/v1/completions", Http.body("prompt", p,
                "steer", "[{\"module\":\"" + BLOCK + "\",\"values\":[1e39]}]")));
        // a client names vectors, never paths: nothing outside --vectors, not even through a link
        refused(400, "steer", "not a file name", http.post("/v1/completions", Http.body("prompt", p, "steer", "[{\"vector\":\"../outside\"}]")));
        refused(400, "steer", "not a file name", http.post("/v1/completions", Http.body("prompt", p,
                "steer", "[{\"vector\":\"" + dir.resolve("outside.safetensors") + "\"}]")));
        refused(400, "steer", "leaves", http.post("/v1/completions", Http.body("prompt", p, "steer", "[{\"vector\":\"escape\"}]")));
        refused(400, "steer", "no vector named", http.post("/v1/completions", Http.body("prompt", p, "steer", "[{\"vector\":\"absent\"}]")));
        refused(400, "steer", "@aligned", http.post("/v1/completions", Http.body("prompt", p, "steer", "[{\"vector\":\"aligned\"}]")));
        refused(413, null, "larger than", http.post("/v1/completions", Http.body("prompt", "\"" + "x".repeat(70_000) + "\"")));
        // after all of that the server still serves, the same as before
        assertEquals(GREEDY.get("unsteered").get("text").asText(), text(http.post("/v1/completions", greedy("[]", false, 12)), false));
    }

    @Test
    void theKeyIsEnforced() throws Exception {
        Http none = new Http(server.port(), null);
        Http wrong = new Http(server.port(), KEY + "x");
        Http prefix = new Http(server.port(), KEY.substring(0, KEY.length() - 1));
        for (Http client : List.of(none, wrong, prefix)) {
            refused(401, null, "API key", client.post("/v1/completions", greedy("[]", false, 2)));
            assertEquals(401, client.get("/v1/models").statusCode());
            assertEquals(401, client.get("/metrics").statusCode());
        }
        assertEquals(200, none.get("/health").statusCode(), "the health probe carries nothing and needs no key");
        assertEquals(200, http.get("/v1/models").statusCode());

        ApiKey key = new ApiKey(KEY);
        assertTrue(key.admits("Bearer " + KEY));
        assertTrue(key.admits("bearer " + KEY));
        assertFalse(key.admits(null));
        assertFalse(key.admits(""));
        assertFalse(key.admits("Bearer "));
        assertFalse(key.admits(KEY));
        assertFalse(key.admits("Bearer " + KEY + KEY));
        assertThrows(IllegalArgumentException.class, () -> new ApiKey(" "));
    }

    @Test
    void listingsHealthAndMetrics() throws Exception {
        JsonNode models = Http.json(http.get("/v1/models").body());
        assertEquals("tiny", models.get("data").get(0).get("id").asText());
        JsonNode listed = Http.json(http.get("/v1/vectors").body()).get("data");
        List<String> names = new ArrayList<>();
        for (JsonNode v : listed) names.add(v.get("name").asText());
        assertEquals(List.of("aligned", "last", "mean"), names, "the link out of the folder is not listed");
        assertEquals(BLOCK, listed.get(1).get("modules").get(0).asText());
        assertEquals(32, listed.get(1).get("width").asInt());
        assertEquals("{\"status\":\"ok\"}", http.get("/health").body());

        http.post("/v1/completions", greedy("[]", false, 3));
        String metrics = http.get("/metrics").body();
        for (String name : List.of("steer4j_requests_total{outcome=\"ok\"}", "steer4j_tokens_total{kind=\"completion\"}",
                "steer4j_queue_depth", "steer4j_running_rows", "steer4j_engine_steps_total", "steer4j_engine_step_seconds_total",
                "steer4j_request_seconds_bucket")) {
            assertTrue(metrics.contains(name), name + " in\n" + metrics);
        }
        assertTrue(log.stream().anyMatch(l -> l.contains("POST /v1/completions 200")), String.join("\n", log));
    }

    /** 64 concurrent clients, mixed steering, streamed and not: no errors, each equal to its single run. */
    @Test
    void boundedLoadOfMixedClientsEqualsSingleRuns() throws Exception {
        double[] coefs = {-10, -5, 0, 5, 10};
        String[] expected = new String[coefs.length];
        try (Session alone = model.session()) {
            for (int c = 0; c < coefs.length; c++) {
                Request.Builder b = Request.prompt(PROMPT).maxNewTokens(10);
                if (coefs[c] != 0) b.steer(new Steer(BLOCK, UNIT, coefs[c]));
                expected[c] = alone.run(b.build()).text();
            }
        }
        // the tiny model saturates (-10 and -5 read alike, as do 5 and 10): still three different texts to mix up
        assertTrue(Arrays.stream(expected).distinct().count() >= 3, "distinct results: " + Arrays.toString(expected));
        int clients = 64;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try {
            List<Future<String>> texts = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                int c = i % coefs.length;
                boolean stream = (i / coefs.length) % 2 == 0;
                String steer = coefs[c] == 0 ? "[]" : i % 2 == 0 ? inline(coefs[c]) : "[{\"vector\":\"last\",\"coef\":" + coefs[c] + "}]";
                texts.add(pool.submit(() -> text(http.post("/v1/completions", greedy(steer, stream, 10)), stream)));
            }
            for (int i = 0; i < clients; i++) assertEquals(expected[i % coefs.length], texts.get(i).get(2, TimeUnit.MINUTES), "client " + i);
        } finally {
            pool.shutdownNow();
        }
    }

    /** The grace period lets a running request finish; then the listener is gone. */
    @Test
    void shutdownFinishesRunningRequestsWithinTheGraceThenStops() throws Exception {
        try (Session s = model.session()) {
            Engine e = s.engine(2, 8);
            OpenAiServer own = OpenAiServer.start(ServerOptions.loopback(0).withLog(l -> {}));
            own.ready(e, "tiny");
            Http client = new Http(own.port(), null);
            var running = Http.CLIENT.sendAsync(client.request("/v1/completions")
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString(greedy("[]", true, 50))).build(), HttpResponse.BodyHandlers.ofString());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (e.running() + e.queued() == 0 && !running.isDone() && System.nanoTime() < deadline) Thread.sleep(2);
            assertTrue(own.shutdown(Duration.ofSeconds(30)), "finished within the grace");
            HttpResponse<String> r = running.get(1, TimeUnit.MINUTES);
            assertEquals(200, r.statusCode());
            List<JsonNode> events = Http.events(r.body());
            assertEquals("[DONE]", events.get(events.size() - 1).asText());
            assertEquals(generateCliLong(), Http.streamedText(r.body()));
            assertThrows(ConnectException.class, () -> client.get("/health"));
        }
    }

    /**
     * The official {@code openai} npm client (pinned in src/test/node/package-lock.json; {@code .ci/run} installs it
     * with {@code npm ci}): completions whole and streamed with usage, steering in the body beside OpenAI's fields,
     * several prompts with n, a refusal, the model list. Without node or the package this fails: it is the test
     * of OpenAI compatibility.
     */
    @Test
    void theOfficialOpenAiNodeClient() throws Exception {
        Path node = Path.of("src/test/node");
        assertTrue(Files.isDirectory(node.resolve("node_modules/openai")),
                "the openai npm package is not installed: run `npm ci` in src/test/node (.ci/run does)");
        String vector = Http.JSON.writeValueAsString(java.util.Map.of("module", BLOCK, "values", UNIT));
        Process p = new ProcessBuilder("node", "client.mjs", http.base + "/v1", KEY, "tiny", vector)
                .directory(node.toFile()).redirectErrorStream(false).start();
        CompletableFutureText err = CompletableFutureText.read(p.getErrorStream());
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(2, TimeUnit.MINUTES), "node did not finish");
        assertEquals(0, p.exitValue(), "node failed: " + err.get() + out);
        JsonNode r = Http.json(out);

        assertEquals(GREEDY.get("unsteered").get("text").asText(), r.get("plain").get("text").asText());
        assertEquals("length", r.get("plain").get("finish").asText());
        assertEquals("text_completion", r.get("plain").get("object").asText());
        assertEquals(17, r.get("plain").get("usage").get("total_tokens").asInt());
        assertEquals(GREEDY.get("steered_last_token_unit_every_position_c10").get("text").asText(), r.get("named").get("text").asText());
        assertEquals(generateCli(vectors.resolve("last.safetensors") + "*-10"), r.get("streamed").get("text").asText());
        assertEquals("length", r.get("streamed").get("finish").asText());
        assertEquals(12, r.get("streamed").get("usage").get("completion_tokens").asInt());
        assertTrue(r.get("streamed").get("chunks").asInt() > 2, "streamed in pieces: " + r.get("streamed"));

        JsonNode many = r.get("many");
        assertEquals(4, many.size());
        String dogs;
        String feel;
        try (Session alone = model.session()) {
            dogs = alone.run(Request.prompt(PROMPT).maxNewTokens(5).build()).text();
            feel = alone.run(Request.prompt("Today I feel").maxNewTokens(5).build()).text();
        }
        for (int i = 0; i < 4; i++) {
            assertEquals(i, many.get(i).get("index").asInt());
            assertEquals(i < 2 ? dogs : feel, many.get(i).get("text").asText(), "choice " + i);
        }
        assertEquals(400, r.get("refused").get("status").asInt(), r.get("refused").toString());
        assertTrue(r.get("refused").get("message").asText().contains("logprobs"), r.get("refused").toString());
        assertEquals(List.of("tiny"), List.of(r.get("models").get(0).asText()));
    }

    /** A process's stream read on its own thread, so that neither pipe can fill and stall the other. */
    record CompletableFutureText(java.util.concurrent.CompletableFuture<String> text) {
        static CompletableFutureText read(java.io.InputStream in) {
            return new CompletableFutureText(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
                } catch (java.io.IOException e) {
                    return e.toString();
                }
            }));
        }

        String get() throws Exception {
            return text.get(1, TimeUnit.MINUTES);
        }
    }

    static String generateCliLong() {
        try (Session s = model.session()) {
            return s.run(Request.prompt(PROMPT).maxNewTokens(50).build()).text();
        }
    }
}
