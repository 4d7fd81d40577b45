package dev.steer4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.Fixtures;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code steer4j batch}: continuous batching over a JSONL file, error records, resume, kill -9, streaming. */
class BatchCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String[] PROMPTS = {"I think dogs are ", "Today I feel", "The capital of France is", "Hello",
            "Once upon a time there was a", "My brother is"};

    static String model() {
        return Cli.convertedModel().toString();
    }

    static List<JsonNode> records(Path out) throws IOException {
        List<JsonNode> r = new ArrayList<>();
        for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) r.add(JSON.readTree(line));
        return r;
    }

    static Map<String, JsonNode> byId(List<JsonNode> records) {
        Map<String, JsonNode> m = new HashMap<>();
        for (JsonNode r : records) if (r.has("id")) assertTrue(m.put(r.get("id").asText(), r) == null, "duplicate " + r);
        return m;
    }

    /** Mixed prompts, steering, limits and sampling; some lines without an id. */
    static List<String> requestLines(int n) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String steer = switch (i % 4) {
                case 0 -> "";
                case 1 -> ", \"steer\": [{\"file\": \"last.safetensors\", \"coef\": " + (i % 9 - 4) + "}]";
                case 2 -> ", \"steer\": [{\"file\": \"mean.safetensors\", \"coef\": 3, \"positions\": \"generated\"}]";
                default -> ", \"steer\": [{\"file\": \"last.safetensors\", \"coef\": 10}, {\"file\": \"mean.safetensors\", \"coef\": -2, \"positions\": \"prompt\"}]";
            };
            String sampling = i % 5 == 4 ? ", \"temperature\": 0.8, \"top_k\": 30, \"seed\": " + i : "";
            String id = i % 7 == 6 ? "" : "\"id\": \"q" + i + "\", ";
            lines.add("{" + id + "\"prompt\": \"" + PROMPTS[i % PROMPTS.length] + "\", \"max_new_tokens\": " + (2 + i * 5 % 13)
                    + steer + sampling + "}");
        }
        return lines;
    }

    @Test
    void eachRequestEqualsGenerateWithRequestsAndTheReference(@TempDir Path dir) throws IOException {
        Fixtures.writeVectors(dir);
        List<String> lines = requestLines(20);
        lines.add("{\"id\": \"ref\", \"prompt\": \"I think dogs are \", \"steer\": [{\"file\": \"last.safetensors\", \"coef\": 10}],"
                + " \"max_new_tokens\": 12}");
        Path in = dir.resolve("requests.jsonl");
        Files.write(in, lines, StandardCharsets.UTF_8);
        Path out = dir.resolve("results.jsonl");
        Cli.Result r = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", out.toString(), "--max-batch", "3", "--json");
        JsonNode summary = r.okJson();
        assertEquals(21, summary.get("requests").asInt());
        assertEquals(0, summary.get("errors").asInt());
        Map<String, JsonNode> got = byId(records(out));
        assertEquals(21, got.size());
        assertTrue(got.containsKey("7"), "a line without id gets its line number");
        // the same requests through generate --requests (one static batch), row by row
        JsonNode statics = Cli.run("generate", "--model", model(), "--requests", in.toString(), "--json").okJson().get("results");
        for (JsonNode s : statics) {
            JsonNode b = got.get(s.get("id").asText());
            assertEquals(s.get("new_ids"), b.get("new_ids"), s.get("id").asText());
            assertEquals(s.get("text"), b.get("text"));
            assertEquals(s.get("finish_reason"), b.get("finish_reason"));
            assertEquals(s.get("ids").size(), b.get("prompt_tokens").asInt());
            assertEquals(b.get("new_ids").size(), b.get("new_tokens").asInt());
        }
        assertArrayEquals(Fixtures.ints(Fixtures.expected("greedy.json").get("steered_last_token_unit_every_position_c10")
                .get("new_ids")), Fixtures.ints(got.get("ref").get("new_ids")));
    }

    @Test
    void aTokenBudgetGivesEveryRequestTheSameResult(@TempDir Path dir) throws IOException {
        Fixtures.writeVectors(dir);
        List<String> lines = requestLines(12);
        lines.add("{\"id\": \"ref\", \"prompt\": \"I think dogs are \", \"steer\": [{\"file\": \"last.safetensors\", \"coef\": 10}],"
                + " \"max_new_tokens\": 12}");
        Path in = dir.resolve("requests.jsonl");
        Files.write(in, lines, StandardCharsets.UTF_8);
        Path plain = dir.resolve("plain.jsonl");
        Path chunked = dir.resolve("chunked.jsonl");
        Path byDefault = dir.resolve("default.jsonl");
        JsonNode apart = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", plain.toString(), "--max-batch", "3",
                "--token-budget", "0", "--json").okJson();
        assertEquals(0, apart.get("engine").get("token_budget").asInt(), apart.toString());
        JsonNode summary = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", chunked.toString(),
                "--max-batch", "3", "--token-budget", "6", "--json").okJson();
        assertEquals(13, summary.get("requests").asInt());
        assertEquals(13, summary.get("engine").get("prefills").asInt(), summary.toString());
        assertEquals(6, summary.get("engine").get("token_budget").asInt(), summary.toString());
        JsonNode defaults = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", byDefault.toString(),
                "--max-batch", "3", "--json").okJson();
        assertEquals(256, defaults.get("engine").get("token_budget").asInt(), "chunked by default, max(256, 2 × slots)");
        Map<String, JsonNode> expected = byId(records(plain));
        for (Path run : List.of(chunked, byDefault)) {
            Map<String, JsonNode> got = byId(records(run));
            assertEquals(expected.keySet(), got.keySet());
            for (String id : expected.keySet()) assertEquals(expected.get(id).get("new_ids"), got.get(id).get("new_ids"), run + " " + id);
        }
        Map<String, JsonNode> got = byId(records(chunked));
        assertArrayEquals(Fixtures.ints(Fixtures.expected("greedy.json").get("steered_last_token_unit_every_position_c10")
                .get("new_ids")), Fixtures.ints(got.get("ref").get("new_ids")));
        String refused = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", dir.resolve("x.jsonl").toString(),
                "--max-batch", "3", "--token-budget", "3").badInput();
        assertTrue(refused.contains("--token-budget must be 0 (off) or more than --max-batch (3), got 3"), refused);
    }

    /**
     * The engine's model FLOPs by hand: a request of P prompt tokens and N new ones runs every block on positions
     * 0 .. P + N - 2 (the prefill, then the N - 1 tokens fed back) and the logits N times. Tiny model: 3 blocks,
     * width 32, inner 128, vocabulary 50257.
     */
    @Test
    void jsonReportsModelFlopsAndTheirFractionOfThePeak(@TempDir Path dir) throws IOException {
        Path in = Files.writeString(dir.resolve("r.jsonl"), "{\"id\": \"a\", \"prompt\": \"I think dogs are \", \"max_new_tokens\": 6}\n"
                + "{\"id\": \"b\", \"prompt\": \"The capital of France is\", \"max_new_tokens\": 9}\n");
        Path out = dir.resolve("out.jsonl");
        JsonNode summary = Cli.run("batch", "--model", Cli.convertedModel().toString(), "--in", in.toString(), "--out",
                out.toString(), "--json").okJson();
        double expected = 0;
        for (String line : Files.readAllLines(out)) {
            JsonNode r = new ObjectMapper().readTree(line);
            int p = r.get("prompt_tokens").asInt();
            int n = r.get("new_tokens").asInt();
            for (int pos = 0; pos <= p + n - 2; pos++) expected += 3 * (2.0 * (3 * 32 * 32 + 32 * 32 + 2 * 32 * 128) + 4.0 * 32 * (pos + 1));
            expected += n * 2.0 * 32 * 50257;
        }
        JsonNode engine = summary.get("engine");
        assertEquals(expected, engine.get("model_flops").asDouble(), 1e-3);
        double seconds = engine.get("prefill_seconds").asDouble() + engine.get("decode_seconds").asDouble();
        assertEquals(expected / seconds / 1e9, engine.get("achieved_gflops").asDouble(), 1e-9);
        JsonNode roof = summary.get("roofline");
        assertEquals(engine.get("achieved_gflops").asDouble() / roof.get("gemm_peak_gflops").asDouble(),
                roof.get("gemm_fraction").asDouble(), 1e-12);
    }

    @Test
    void badLinesBecomeErrorRecordsAndTheJobGoesOn(@TempDir Path dir) throws IOException {
        Fixtures.writeVectors(dir);
        dev.steer4j.steering.VectorFiles.write(dir.resolve("narrow.safetensors"),
                dev.steer4j.steering.io.VectorSet.builder().put("transformer.h.1", new float[16]).build(), "tiny");
        Path in = dir.resolve("requests.jsonl");
        List<byte[]> lines = new ArrayList<>(List.of(
                "{\"id\": \"ok1\", \"prompt\": \"Hello\", \"max_new_tokens\": 3}",
                "{\"id\": \"json\", \"prompt\": ",
                "{\"id\": \"noprompt\"}",
                "{\"id\": \"module\", \"prompt\": \"Hi\", \"steer\": [{\"file\": \"last.safetensors\", \"module\": \"transformer.h.7\"}]}",
                "{\"id\": \"width\", \"prompt\": \"Hi\", \"steer\": [{\"file\": \"narrow.safetensors\"}]}",
                "{\"id\": \"long\", \"prompt\": \"Hi\", \"max_new_tokens\": 64}",
                "{\"id\": \"ok1\", \"prompt\": \"again\"}",
                "{\"id\": \"ok2\", \"prompt\": \"Today I feel\", \"max_new_tokens\": 4}").stream()
                .map(s -> s.getBytes(StandardCharsets.UTF_8)).toList());
        lines.add(new byte[]{'{', '"', 'p', (byte) 0xff, '"', '}'});
        try (OutputStream o = Files.newOutputStream(in)) {
            for (byte[] l : lines) {
                o.write(l);
                o.write('\n');
            }
        }
        Path out = dir.resolve("results.jsonl");
        Cli.Result r = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", out.toString(), "--json");
        assertEquals(2, r.code(), r.err());
        JsonNode summary = r.json();
        assertEquals(2, summary.get("requests").asInt());
        assertEquals(7, summary.get("errors").asInt());
        assertTrue(r.err().contains("7 bad lines"), r.err());
        List<JsonNode> recs = records(out);
        assertEquals(9, recs.size());
        Map<Long, String> errors = new HashMap<>();
        for (JsonNode rec : recs) if (rec.has("error")) errors.put(rec.get("line").asLong(), rec.get("error").asText());
        assertTrue(errors.get(2L).contains("not valid JSON"), errors.toString());
        assertTrue(errors.get(3L).contains("prompt"), errors.toString());
        assertTrue(errors.get(4L).contains("transformer.h.7"), errors.toString());
        assertTrue(errors.get(5L).contains("width"), errors.toString());
        assertTrue(errors.get(6L).contains("positions"), errors.toString());
        assertTrue(errors.get(7L).contains("duplicate id"), errors.toString());
        assertTrue(errors.get(9L).contains("UTF-8"), errors.toString());
        assertEquals(Map.of(), byId(recs).entrySet().stream().filter(e -> e.getKey().equals("ok1") && e.getValue().has("error"))
                .collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue)));
        // a rerun has nothing left to do, and still reports the bad lines
        Cli.Result again = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", out.toString(), "--json");
        assertEquals(2, again.code());
        assertEquals(9, again.json().get("skipped").asInt());
        assertEquals(9, records(out).size());
    }

    /** Twelve requests written to {@code in} and run to completion into {@code full}: the undisturbed records. */
    private static List<String> twelveRunUndisturbed(Path in, Path full) throws IOException {
        Fixtures.writeVectors(in.getParent());
        Files.write(in, requestLines(12), StandardCharsets.UTF_8);
        Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", full.toString(), "--json").okJson();
        return Files.readAllLines(full, StandardCharsets.UTF_8);
    }

    @Test
    void aRerunSkipsWhatIsDoneAndRedoesATornLastLine(@TempDir Path dir) throws IOException {
        Path in = dir.resolve("requests.jsonl");
        Path full = dir.resolve("full.jsonl");
        List<String> all = twelveRunUndisturbed(in, full);
        // a job killed after 5 records, in the middle of writing the 6th
        Path out = dir.resolve("results.jsonl");
        String torn = all.get(5).substring(0, all.get(5).length() / 2);
        Files.writeString(out, String.join("\n", all.subList(0, 5)) + "\n" + torn, StandardCharsets.UTF_8);
        JsonNode summary = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", out.toString(), "--json").okJson();
        assertEquals(5, summary.get("skipped").asInt());
        assertEquals(7, summary.get("requests").asInt());
        assertEquals(byId(records(full)), byId(records(out)));
    }

    @Test
    void aDamagedMiddleLineLosesOnlyItselfAndARerunKeepsEveryValidResult(@TempDir Path dir) throws IOException {
        Path in = dir.resolve("requests.jsonl");
        Path full = dir.resolve("full.jsonl");
        List<String> all = twelveRunUndisturbed(in, full);
        // nine records, the fourth damaged in the middle of the file (a bad sector, an editor), the rest intact
        List<String> damaged = new ArrayList<>(all.subList(0, 9));
        damaged.set(3, damaged.get(3).substring(0, damaged.get(3).length() / 2) + "\u0000garbage");
        Path out = dir.resolve("results.jsonl");
        Files.write(out, damaged, StandardCharsets.UTF_8);
        JsonNode summary = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", out.toString(), "--json").okJson();
        assertEquals(8, summary.get("skipped").asInt(), "every valid record is kept");
        assertEquals(4, summary.get("requests").asInt(), "the damaged line's request and the three never run");
        List<JsonNode> recs = records(out); // every line parses: the damaged one is gone
        assertEquals(12, recs.size());
        assertEquals(byId(records(full)), byId(recs), "each id exactly once, equal to an undisturbed run");
        List<String> after = Files.readAllLines(out, StandardCharsets.UTF_8);
        for (int i : new int[]{0, 1, 2, 4, 5, 6, 7, 8}) assertTrue(after.contains(all.get(i)), "kept byte for byte: line " + i);
    }

    @Test
    void anOutputThatIsTheInputOrNotAResultsFileIsRefusedUntouched(@TempDir Path dir) throws IOException {
        Fixtures.writeVectors(dir);
        Path in = dir.resolve("requests.jsonl");
        Files.write(in, requestLines(3), StandardCharsets.UTF_8);
        byte[] input = Files.readAllBytes(in);
        Path link = dir.resolve("link.jsonl");
        Files.createSymbolicLink(link, in);
        Path hard = dir.resolve("hard.jsonl");
        Files.createLink(hard, in);
        for (String out : new String[]{dir + "/./requests.jsonl", dir.resolve("sub/../requests.jsonl").toString(), link.toString(),
                hard.toString()}) {
            Cli.Result r = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", out);
            assertEquals(2, r.code(), out + ": " + r.err());
            assertTrue(r.err().contains("--out " + out + " is the same file as --in " + in), r.err());
            assertArrayEquals(input, Files.readAllBytes(in), "the requests file is untouched");
        }
        Path notes = dir.resolve("notes.txt");
        Files.writeString(notes, "my notes\nsecond line\n", StandardCharsets.UTF_8);
        Cli.Result r = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", notes.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("not a steer4j results file"), r.err());
        assertEquals("my notes\nsecond line\n", Files.readString(notes, StandardCharsets.UTF_8));
    }

    @Test
    void killedWithSigkillAtAnyMomentThenRerunEveryIdOnce(@TempDir Path dir) throws Exception {
        Fixtures.writeVectors(dir);
        Path in = dir.resolve("requests.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 600; i++) {
            lines.add("{\"id\": \"k" + i + "\", \"prompt\": \"" + PROMPTS[i % PROMPTS.length] + "\", \"max_new_tokens\": "
                    + (8 + i % 17) + (i % 3 == 0 ? ", \"steer\": [{\"file\": \"last.safetensors\", \"coef\": 6}]" : "") + "}");
        }
        Files.write(in, lines, StandardCharsets.UTF_8);
        Path out = dir.resolve("results.jsonl");
        for (int kill = 0; kill < 2; kill++) {
            Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-cp", System.getProperty("java.class.path"), "dev.steer4j.cli.Main", "batch", "--model", model(),
                    "--in", in.toString(), "--out", out.toString(), "--max-batch", "4")
                    .redirectErrorStream(true).redirectOutput(dir.resolve("child.log").toFile()).start();
            long target = (kill + 1) * 40L;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (p.isAlive() && (!Files.exists(out) || Files.size(out) < target * 60) && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertTrue(p.isAlive(), "the child finished before it could be killed: " + Files.readString(dir.resolve("child.log")));
            p.destroyForcibly(); // SIGKILL
            p.waitFor();
        }
        int before = Files.readAllLines(out, StandardCharsets.UTF_8).size();
        assertTrue(before > 0 && before < 600, "killed part way: " + before);
        JsonNode summary = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", out.toString(), "--max-batch", "4",
                "--json").okJson();
        List<JsonNode> recs = records(out); // every line parses: none is torn
        assertEquals(600, recs.size());
        assertEquals(600, byId(recs).size());
        assertEquals(600, summary.get("skipped").asInt() + summary.get("requests").asInt());
        for (JsonNode r : recs) assertTrue(r.has("new_ids") && !r.has("error"), r.toString());
    }

    @Test
    void aFullDiskStopsTheJobCleanlyAndARerunElsewhereFinishesIt(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("requests.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            lines.add("{\"id\": \"d" + i + "\", \"prompt\": \"" + PROMPTS[i % PROMPTS.length] + "\", \"max_new_tokens\": 2}");
        }
        Files.write(in, lines, StandardCharsets.UTF_8);
        Path small = dir.resolve("small");
        Path moved = dir.resolve("moved.jsonl");
        BadInputTest.withTmpfs(small, "24k", () -> {
            Path out = small.resolve("results.jsonl");
            Cli.Result r = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", out.toString());
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().contains("no space left on device"), r.err());
            List<JsonNode> recs = records(out); // every line parses: the one that did not fit is not there at all
            assertTrue(recs.size() > 0 && recs.size() < 200, "filled part way: " + recs.size());
            Files.copy(out, moved);
        });
        JsonNode summary = Cli.run("batch", "--model", model(), "--in", in.toString(), "--out", moved.toString(), "--json")
                .okJson();
        assertEquals(200, summary.get("skipped").asInt() + summary.get("requests").asInt());
        assertEquals(200, byId(records(moved)).size());
        assertEquals(200, records(moved).size());
    }

    @Test
    void theInputIsStreamed(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("requests.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        Path out = dir.resolve("results.jsonl");
        java.util.concurrent.CompletableFuture<Cli.Result> job = java.util.concurrent.CompletableFuture.supplyAsync(() ->
                Cli.run("batch", "--model", model(), "--in", fifo.toString(), "--out", out.toString(), "--max-batch", "2", "--json"));
        try (OutputStream o = Files.newOutputStream(fifo)) {
            for (int i = 0; i < 3; i++) o.write(("{\"id\": \"a" + i + "\", \"prompt\": \"Hello\", \"max_new_tokens\": 2}\n")
                    .getBytes(StandardCharsets.UTF_8));
            o.flush();
            // results of the first lines appear while the input is still open
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while ((!Files.exists(out) || Files.readAllLines(out).size() < 2) && System.nanoTime() < deadline) Thread.sleep(10);
            assertTrue(Files.readAllLines(out).size() >= 2, "results before the end of the input");
            assertTrue(!job.isDone());
            o.write("{\"id\": \"b\", \"prompt\": \"Today\", \"max_new_tokens\": 2}\n".getBytes(StandardCharsets.UTF_8));
        }
        JsonNode summary = job.get(60, TimeUnit.SECONDS).okJson();
        assertEquals(4, summary.get("requests").asInt());
        assertEquals(4, byId(records(out)).size());
    }
}
