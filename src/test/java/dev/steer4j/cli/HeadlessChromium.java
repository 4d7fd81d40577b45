package dev.steer4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Debian's headless chromium driven over the Chrome DevTools Protocol (a WebSocket on loopback, the JDK's own
 * client): it records every request the page makes, every console message and exception, and can evaluate
 * script and take a screenshot. Missing chromium is a failure, not a skip: .ci/run installs it.
 */
final class HeadlessChromium implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LISTENING = Pattern.compile("DevTools listening on (ws://\\S+)");
    private static final long TIMEOUT_S = 60;

    private final Process process;
    private final Path profile;
    private final WebSocket socket;
    private final AtomicInteger ids = new AtomicInteger();
    private final Map<Integer, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    private final List<JsonNode> events = new CopyOnWriteArrayList<>();
    private volatile CompletableFuture<Void> loaded = new CompletableFuture<>();

    HeadlessChromium() throws Exception {
        Path binary = Path.of("/usr/bin/chromium");
        if (!Files.isExecutable(binary)) {
            throw new AssertionError("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)");
        }
        profile = Files.createTempDirectory("steer4j-chromium");
        process = new ProcessBuilder(binary.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                "--user-data-dir=" + profile, "--window-size=1200,900", "about:blank")
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String browserWs = null;
        BufferedReader err = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        for (String line; browserWs == null && System.nanoTime() < deadline && (line = err.readLine()) != null; ) {
            Matcher m = LISTENING.matcher(line);
            if (m.find()) browserWs = m.group(1);
        }
        if (browserWs == null) {
            close();
            throw new AssertionError("chromium did not open its DevTools port");
        }
        Thread drain = new Thread(() -> { // keep reading stderr so chromium never blocks on a full pipe
            try {
                while (err.readLine() != null) { /* dbus noise */ }
            } catch (IOException e) {
                // the process ended
            }
        }, "chromium-stderr");
        drain.setDaemon(true);
        drain.start();
        URI ws = URI.create(browserWs);
        HttpClient http = HttpClient.newHttpClient();
        JsonNode targets = JSON.readTree(http.send(HttpRequest.newBuilder(URI.create("http://" + ws.getAuthority() + "/json/list"))
                .timeout(Duration.ofSeconds(TIMEOUT_S)).build(), HttpResponse.BodyHandlers.ofString()).body());
        String page = null;
        for (JsonNode t : targets) if (t.path("type").asText().equals("page")) page = t.get("webSocketDebuggerUrl").asText();
        if (page == null) throw new AssertionError("no page target in " + targets);
        socket = http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(TIMEOUT_S)).buildAsync(URI.create(page), new Listener())
                .get(TIMEOUT_S, TimeUnit.SECONDS);
        for (String domain : new String[]{"Page", "Network", "Runtime", "Log"}) call(domain + ".enable", null);
    }

    private final class Listener implements WebSocket.Listener {
        private final StringBuilder text = new StringBuilder();

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            text.append(data);
            if (last) {
                try {
                    JsonNode msg = JSON.readTree(text.toString());
                    if (msg.has("id")) {
                        CompletableFuture<JsonNode> f = pending.remove(msg.get("id").asInt());
                        if (f != null) f.complete(msg);
                    } else {
                        events.add(msg);
                        if (msg.path("method").asText().equals("Page.loadEventFired")) loaded.complete(null);
                    }
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
                text.setLength(0);
            }
            ws.request(1);
            return null;
        }
    }

    JsonNode call(String method, ObjectNode params) throws Exception {
        int id = ids.incrementAndGet();
        ObjectNode msg = JSON.createObjectNode().put("id", id).put("method", method);
        if (params != null) msg.set("params", params);
        CompletableFuture<JsonNode> f = new CompletableFuture<>();
        pending.put(id, f);
        socket.sendText(JSON.writeValueAsString(msg), true).get(TIMEOUT_S, TimeUnit.SECONDS);
        JsonNode reply = f.get(TIMEOUT_S, TimeUnit.SECONDS);
        if (reply.has("error")) throw new AssertionError(method + ": " + reply.get("error"));
        return reply.get("result");
    }

    /** Opens {@code file} and waits for its load event. */
    void open(Path file) throws Exception {
        loaded = new CompletableFuture<>();
        call("Page.navigate", JSON.createObjectNode().put("url", file.toUri().toString()));
        loaded.get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    /** The value of a script (returned by value: JSON-able). */
    JsonNode evaluate(String expression) throws Exception {
        JsonNode r = call("Runtime.evaluate", JSON.createObjectNode().put("expression", expression).put("returnByValue", true));
        if (r.has("exceptionDetails")) throw new AssertionError(expression + ": " + r.get("exceptionDetails"));
        return r.get("result").get("value");
    }

    /** A PNG of the whole page, beyond the window. */
    byte[] screenshot() throws Exception {
        JsonNode r = call("Page.captureScreenshot", JSON.createObjectNode().put("format", "png").put("captureBeyondViewport", true));
        return Base64.getDecoder().decode(r.get("data").asText());
    }

    /** The URL of every request the page made (documents, images, anything). */
    List<String> requests() {
        List<String> urls = new ArrayList<>();
        for (JsonNode e : events) {
            if (e.path("method").asText().equals("Network.requestWillBeSent")) urls.add(e.get("params").get("request").get("url").asText());
        }
        return urls;
    }

    /** Console messages of level error or warning, uncaught exceptions, and log entries of level error. */
    List<String> problems() {
        List<String> out = new ArrayList<>();
        for (JsonNode e : events) {
            String method = e.path("method").asText();
            JsonNode p = e.path("params");
            if (method.equals("Runtime.consoleAPICalled") && !p.path("type").asText().matches("log|info|debug")) out.add(p.toString());
            if (method.equals("Runtime.exceptionThrown")) out.add(p.toString());
            if (method.equals("Log.entryAdded") && p.path("entry").path("level").asText().matches("error|warning")) out.add(p.toString());
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        if (socket != null) socket.abort();
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try (Stream<Path> walk = Files.walk(profile)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
