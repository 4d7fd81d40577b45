package dev.steer4j.server;

import dev.steer4j.Engine;
import dev.steer4j.Model;
import dev.steer4j.Session;
import dev.steer4j.request.Request;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One slot and a queue of one, on the built-in model (128 positions: requests long enough to be caught
 * running): a client gone mid-stream frees its slot at once, and a full queue is a 429 with Retry-After.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ServerSlotsTest {
    static final String PROMPT = "The people said, ";
    static Model model;
    static Session session;
    static Engine engine;
    static OpenAiServer server;
    static Http http;

    @BeforeAll
    static void start() {
        model = Model.builtIn();
        session = model.session();
        engine = session.engine(1, 1);
        server = OpenAiServer.start(ServerOptions.loopback(0).withLog(l -> {}));
        server.ready(engine, "builtin");
        http = new Http(server.port(), null);
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (session != null) session.close();
        if (model != null) model.close();
    }

    static String body(int maxTokens, boolean stream) {
        return Http.body("prompt", "\"" + PROMPT + "\"", "max_tokens", Integer.toString(maxTokens), "temperature", "0",
                "stream", Boolean.toString(stream));
    }

    /** A raw client: sends a streamed request and reads until its first event, leaving the socket open. */
    static Socket streamUntilFirstEvent(int maxTokens) throws Exception {
        Socket s = new Socket("127.0.0.1", server.port());
        s.setSoTimeout(60_000);
        byte[] json = body(maxTokens, true).getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                + json.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(json);
        out.flush();
        InputStream in = s.getInputStream();
        StringBuilder seen = new StringBuilder();
        while (!seen.toString().contains("data: ")) {
            int c = in.read();
            if (c < 0) throw new AssertionError("the stream ended before its first event: " + seen);
            seen.append((char) c);
        }
        assertTrue(seen.toString().startsWith("HTTP/1.1 200"), seen.toString());
        return s;
    }

    static double metric(String line) throws Exception {
        for (String l : http.get("/metrics").body().split("\n")) {
            if (l.startsWith(line + " ")) return Double.parseDouble(l.substring(line.length() + 1));
        }
        return 0;
    }

    @Test
    void aClientGoneMidStreamFreesItsSlot() throws Exception {
        long before = engine.steps();
        double cancelledBefore = metric("steer4j_requests_total{outcome=\"cancelled\"}");
        Socket s = streamUntilFirstEvent(120);
        s.close();
        // the next request has the one slot, long before the gone one's 120 tokens
        String text = Http.json(http.post("/v1/completions", body(12, false)).body()).get("choices").get(0).get("text").asText();
        try (Session alone = model.session()) {
            assertEquals(alone.run(Request.prompt(PROMPT).maxNewTokens(12).build()).text(), text);
        }
        long used = engine.steps() - before;
        assertTrue(used < 100, "the gone client's request kept its slot: " + used + " steps");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (metric("steer4j_requests_total{outcome=\"cancelled\"}") == cancelledBefore && System.nanoTime() < deadline) Thread.sleep(10);
        assertEquals(cancelledBefore + 1, metric("steer4j_requests_total{outcome=\"cancelled\"}"));
    }

    @Test
    void aFullQueueIsA429WithRetryAfter() throws Exception {
        // 16 choices for one slot and a queue of one: the queue fills while the request is being submitted, so
        // it is refused whole (the choices that got in are cancelled) whatever the engine's speed
        String sixteen = Http.body("prompt", "\"" + PROMPT + "\"", "max_tokens", "120", "n", "16", "temperature", "0");
        HttpResponse<String> refused = http.post("/v1/completions", sixteen);
        assertEquals(429, refused.statusCode(), refused.body());
        assertEquals("1", refused.headers().firstValue("Retry-After").orElse(null));
        assertTrue(Http.json(refused.body()).get("error").get("message").asText().contains("queue is full"), refused.body());
        long before = engine.steps();
        assertEquals(0, engine.queued(), "the refused request's choices left the queue");
        assertEquals(200, http.post("/v1/completions", body(4, false)).statusCode());
        assertTrue(engine.steps() - before < 120, "the refused request's choices still ran: " + (engine.steps() - before) + " steps");
    }
    /** No grace: the running stream is cancelled and ends with an error event, and the listener is gone. */
    @Test
    void shutdownWithoutGraceEndsARunningStreamWithAnErrorEvent() throws Exception {
        try (Session own = model.session()) {
            Engine e = own.engine(1, 1);
            OpenAiServer other = OpenAiServer.start(ServerOptions.loopback(0).withLog(l -> {}));
            other.ready(e, "builtin");
            Socket s = new Socket("127.0.0.1", other.port());
            s.setSoTimeout(60_000);
            byte[] json = body(120, true).getBytes(StandardCharsets.UTF_8);
            s.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + json.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().write(json);
            InputStream in = s.getInputStream();
            StringBuilder seen = new StringBuilder();
            while (!seen.toString().contains("data: ")) seen.append((char) in.read());
            assertTrue(!other.shutdown(java.time.Duration.ZERO), "a request was still running");
            String rest = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(rest.contains("\"error\"") && rest.contains("shutting down"), rest);
            assertTrue(rest.contains("data: [DONE]"), rest);
            s.close();
            assertEquals(0, e.running() + e.queued());
        }
    }
}
