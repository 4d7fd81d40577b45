package dev.steer4j.cli;

import dev.steer4j.Fixtures;
import java.io.BufferedReader;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code steer4j serve}: bad flags are one line and exit 2; a real process stops on SIGTERM, its stream finished, exit 0. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ServeCommandTest {
    @TempDir
    Path dir;

    @Test
    void badFlagsAreOneLineAndExit2() throws Exception {
        Path key = Files.writeString(dir.resolve("empty.key"), "\n");
        assertTrue(Cli.run("serve", "--port", "70000").badInput().contains("--port"));
        assertTrue(Cli.run("serve", "--max-batch", "0").badInput().contains("--max-batch"));
        assertTrue(Cli.run("serve", "--max-batch", "4", "--token-budget", "4").badInput()
                .contains("--token-budget must be 0 (off) or more than --max-batch (4), got 4"));
        assertTrue(Cli.run("serve", "--max-queue", "0").badInput().contains("--max-queue"));
        assertTrue(Cli.run("serve", "--vectors", dir.resolve("none").toString()).badInput().contains("--vectors"));
        assertTrue(Cli.run("serve", "--model", dir.resolve("none.pt").toString()).badInput().contains("--model"));
        assertTrue(Cli.run("serve", "--api-key-file", key.toString()).badInput().contains("empty"));
        assertTrue(Cli.run("serve", "--api-key-file", dir.resolve("none.key").toString()).badInput().contains("--api-key-file"));
        assertTrue(Cli.run("serve", "--device", "tpu").badInput().contains("device"));
        assertTrue(Cli.run("serve", "--steer", dir.resolve("none.safetensors").toString()).badInput().contains("none.safetensors"));
        assertTrue(Cli.run("serve", "--steer-mode", "bias", "--steer", "x.safetensors").badInput().contains("--steer-mode"));
        assertTrue(Cli.run("serve", "--bogus").badInput().contains("--bogus"));
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            String err = Cli.run("serve", "--port", Integer.toString(taken.getLocalPort())).badInput();
            assertTrue(err.contains("--port " + taken.getLocalPort()), err);
        }
    }

    /** The real command in its own JVM: serves, then SIGTERM lets the running stream finish and exits 0. */
    @Test
    void sigtermFinishesTheRunningStreamAndExits0() throws Exception {
        Path model = dir.resolve("tiny.pt");
        Fixtures.saveConverted(model);
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(javaBin, "-cp", System.getProperty("java.class.path"), "dev.steer4j.cli.Main", "serve",
                "--model", model.toString(), "--port", "0", "--max-batch", "2").redirectErrorStream(true)
                .redirectOutput(dir.resolve("serve.log").toFile()).start();
        LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        List<String> all = java.util.Collections.synchronizedList(new ArrayList<>());
        Thread reader = new Thread(() -> {
            // the log file as it grows (a file, not a pipe: the child never waits for us)
            try (BufferedReader in = Files.newBufferedReader(dir.resolve("serve.log"), StandardCharsets.UTF_8)) {
                while (true) {
                    String l = in.readLine();
                    if (l == null) {
                        if (!p.isAlive()) {
                            for (l = in.readLine(); l != null; l = in.readLine()) all.add(l);
                            return;
                        }
                        Thread.sleep(20);
                        continue;
                    }
                    lines.add(l);
                    all.add(l);
                }
            } catch (java.io.IOException | InterruptedException ignored) {
                // the test is over
            }
        });
        reader.start();
        try {
            int port = -1;
            boolean ready = false;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            Pattern listening = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)");
            while (!ready && System.nanoTime() < deadline) {
                String l = lines.poll(1, TimeUnit.SECONDS);
                if (l == null) continue;
                Matcher m = listening.matcher(l);
                if (m.find()) port = Integer.parseInt(m.group(1));
                ready = l.contains("ready");
            }
            assertTrue(ready && port > 0, "the server did not come up: " + all);
            HttpClient client = HttpClient.newHttpClient();
            String body = "{\"prompt\":\"I think dogs are \",\"max_tokens\":50,\"temperature\":0,\"stream\":true}";
            HttpResponse<java.util.stream.Stream<String>> stream = client.send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + port + "/v1/completions")).timeout(Duration.ofMinutes(1))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines());
            assertEquals(200, stream.statusCode());
            java.util.Iterator<String> events = stream.body().iterator();
            String first = events.next();
            assertTrue(first.startsWith("data: {"), first);
            p.destroy(); // SIGTERM, with the stream under way (or just done, on a fast machine)
            List<String> rest = new ArrayList<>();
            events.forEachRemaining(rest::add);
            assertEquals("data: [DONE]", rest.get(rest.size() - 2), "the stream finished: " + rest);
            assertTrue(rest.stream().anyMatch(l -> l.contains("\"finish_reason\":\"length\"")), String.join("\n", rest));
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "still running after SIGTERM: " + all);
            assertEquals(0, p.exitValue(), String.join("\n", all));
            reader.join(10_000);
            assertTrue(all.stream().anyMatch(l -> l.contains("stopped")), "reader alive " + reader.isAlive() + ": " + String.join("\n", all));
        } finally {
            p.destroyForcibly();
        }
    }
}
