package dev.steer4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Java's HttpClient against a server on loopback: JSON posts, SSE streams read whole, every call time-bounded. */
final class Http {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    static final Duration TIMEOUT = Duration.ofMinutes(2);

    final String base;
    final String key;

    Http(int port, String key) {
        this.base = "http://127.0.0.1:" + port;
        this.key = key;
    }

    HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
        return CLIENT.send(request(path).POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return CLIENT.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpRequest.Builder request(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(TIMEOUT).header("Content-Type", "application/json");
        if (key != null) b.header("Authorization", "Bearer " + key);
        return b;
    }

    static JsonNode json(String s) {
        try {
            return JSON.readTree(s);
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + s, e);
        }
    }

    /** The data of each server-sent event, [DONE] included as a text node. */
    static List<JsonNode> events(String body) {
        List<JsonNode> out = new ArrayList<>();
        for (String line : body.split("\n")) {
            if (!line.startsWith("data: ")) continue;
            String data = line.substring(6);
            out.add(data.equals("[DONE]") ? JSON.getNodeFactory().textNode(data) : json(data));
        }
        return out;
    }

    /** A streamed completion's text of choice 0, put back together. */
    static String streamedText(String body) {
        StringBuilder text = new StringBuilder();
        for (JsonNode e : events(body)) {
            if (e.isObject() && e.has("choices")) {
                for (JsonNode c : e.get("choices")) text.append(c.get("text").asText());
            }
        }
        return text.toString();
    }

    /** A completion body: the fields given as alternating name, JSON value text. */
    static String body(String... pairs) {
        StringBuilder b = new StringBuilder("{");
        for (int i = 0; i < pairs.length; i += 2) {
            if (i > 0) b.append(',');
            b.append('"').append(pairs[i]).append("\":").append(pairs[i + 1]);
        }
        return b.append('}').toString();
    }
}
