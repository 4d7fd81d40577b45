package dev.steer4j.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.Fixtures;
import dev.steer4j.InvalidInputException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spark in local mode (local[2], tasks retried up to 3 times) on the tiny reference model. */
class SparkGenerationTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static SparkSession spark;
    static Path dir;
    static Path model;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("steer4j-spark-test");
        model = dir.resolve("tiny.pt");
        Fixtures.converted().save(model);
        Fixtures.writeVectors(dir);
        spark = SparkSession.builder().master("local[2,3]").appName("steer4j-test").config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "2").getOrCreate();
        spark.sparkContext().setLogLevel("ERROR");
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
    }

    static Path requests(String name, int n) throws Exception {
        List<String> lines = new ArrayList<>();
        String[] prompts = {"I think dogs are ", "Today I feel", "The capital of France is", "Hello", "My brother is"};
        for (int i = 0; i < n; i++) {
            String steer = switch (i % 3) {
                case 0 -> "";
                case 1 -> ", \"steer\": [{\"file\": \"" + dir.resolve("last.safetensors") + "\", \"coef\": " + (i % 7 - 3) + "}]";
                default -> ", \"steer\": [{\"file\": \"" + dir.resolve("mean.safetensors") + "\", \"coef\": 4, \"positions\": \"prompt\"}]";
            };
            String sampling = i % 4 == 3 ? ", \"temperature\": 0.9, \"seed\": " + i : "";
            lines.add("{\"id\": \"p" + i + "\", \"prompt\": \"" + prompts[i % prompts.length] + "\", \"max_new_tokens\": "
                    + (2 + i % 9) + steer + sampling + "}");
        }
        Path f = dir.resolve(name);
        Files.write(f, lines, StandardCharsets.UTF_8);
        return f;
    }

    static Map<String, JsonNode> steer4jBatch(Path in) throws Exception {
        Path out = dir.resolve(in.getFileName() + ".steer4j.jsonl");
        Files.deleteIfExists(out);
        int code = dev.steer4j.cli.Main.run(new String[]{"batch", "--model", model.toString(), "--in", in.toString(),
                "--out", out.toString()}, new PrintStream(new ByteArrayOutputStream()), new PrintStream(new ByteArrayOutputStream()));
        assertEquals(0, code);
        Map<String, JsonNode> m = new HashMap<>();
        for (String l : Files.readAllLines(out)) {
            JsonNode r = JSON.readTree(l);
            m.put(r.get("id").asText(), r);
        }
        return m;
    }

    static SteeredGeneration.Options options() {
        return new SteeredGeneration.Options(model.toString(), "cpu", 3, List.of(), 20, null);
    }

    static List<Integer> ints(Row r) {
        return r.isNullAt(r.fieldIndex("new_ids")) ? null : r.getList(r.fieldIndex("new_ids"));
    }

    @Test
    void theDataFrameResultEqualsSteer4jBatchRowByRowAndTheModelLoadsOnce() throws Exception {
        Path in = requests("requests.jsonl", 24);
        Map<String, JsonNode> expected = steer4jBatch(in);
        int loadsBefore = ExecutorEngines.loads();
        Dataset<Row> input = spark.read().json(in.toString()).repartition(4);
        List<Row> rows = SteeredGeneration.generate(input, options()).collectAsList();
        assertEquals(24, rows.size());
        for (Row r : rows) {
            JsonNode e = expected.get(r.getString(r.fieldIndex("id")));
            assertTrue(r.isNullAt(r.fieldIndex("error")), () -> String.valueOf(r.get(r.fieldIndex("error"))));
            List<Integer> want = new ArrayList<>();
            e.get("new_ids").forEach(x -> want.add(x.asInt()));
            assertEquals(want, ints(r), r.getString(r.fieldIndex("id")));
            assertEquals(e.get("text").asText(), r.getString(r.fieldIndex("text")));
            assertEquals(e.get("finish_reason").asText(), r.getString(r.fieldIndex("finish_reason")));
            assertEquals(e.get("prompt_tokens").asInt(), r.getInt(r.fieldIndex("prompt_tokens")));
        }
        // a second job, more partitions: the same engine, no new load
        SteeredGeneration.generate(input.repartition(6), options()).count();
        assertEquals(loadsBefore + 1, ExecutorEngines.loads(), "one model per executor JVM, loaded once");
        // the steer column as a JSON string gives the same rows
        Dataset<Row> asString = input.selectExpr("id", "prompt", "to_json(steer) AS steer", "max_new_tokens", "temperature", "seed");
        for (Row r : SteeredGeneration.generate(asString, options()).collectAsList()) {
            List<Integer> want = new ArrayList<>();
            expected.get(r.getString(0)).get("new_ids").forEach(x -> want.add(x.asInt()));
            assertEquals(want, ints(r), r.getString(0));
        }
    }

    /** Fails partition 0's first attempt, after the engine has produced rows: Spark retries it. */
    static final class FailOnce implements MapFunction<Row, Row> {
        @Override
        public Row call(Row r) {
            TaskContext t = TaskContext.get();
            if (t.partitionId() == 0 && t.attemptNumber() == 0) {
                throw new IllegalStateException("injected failure");
            }
            return r;
        }
    }

    @Test
    void aTaskThatFailsOnceIsRetriedWithNoDuplicateAndNoLoss() throws Exception {
        Path in = requests("retry.jsonl", 20);
        Dataset<Row> generated = SteeredGeneration.generate(spark.read().json(in.toString()).repartition(3), options());
        Dataset<Row> failing = generated.map(new FailOnce(), Encoders.row(generated.schema()));
        Path out = dir.resolve("retry-out.parquet");
        failing.write().parquet(out.toString());
        List<Row> back = spark.read().parquet(out.toString()).collectAsList();
        assertEquals(20, back.size());
        assertEquals(20, back.stream().map(r -> r.getString(r.fieldIndex("id"))).distinct().count());
        Map<String, JsonNode> expected = steer4jBatch(in);
        for (Row r : back) {
            List<Integer> want = new ArrayList<>();
            expected.get(r.getString(r.fieldIndex("id"))).get("new_ids").forEach(x -> want.add(x.asInt()));
            assertEquals(want, ints(r));
        }
    }

    @Test
    void badRowsCarryErrorsAndTheOthersSucceed() throws Exception {
        Path in = dir.resolve("bad.jsonl");
        Files.write(in, List.of(
                "{\"id\": \"ok\", \"prompt\": \"Hello\", \"max_new_tokens\": 3}",
                "{\"id\": \"noprompt\", \"max_new_tokens\": 3}",
                "{\"id\": \"module\", \"prompt\": \"Hi\", \"steer\": [{\"file\": \"" + dir.resolve("last.safetensors")
                        + "\", \"module\": \"transformer.h.7\"}]}",
                "{\"id\": \"long\", \"prompt\": \"Hi\", \"max_new_tokens\": 500}",
                "{\"id\": \"json\", \"prompt\": ",
                "{\"prompt\": \"no id\"}",
                "{\"id\": \"ok2\", \"prompt\": \"Today I feel\", \"max_new_tokens\": 3}"), StandardCharsets.UTF_8);
        Map<String, String> errors = new HashMap<>();
        List<String> all = new ArrayList<>();
        int fine = 0;
        for (Row r : SteeredGeneration.generate(spark.read().json(in.toString()), options()).collectAsList()) {
            String id = r.isNullAt(r.fieldIndex("id")) ? "?" : r.getString(r.fieldIndex("id"));
            if (r.isNullAt(r.fieldIndex("error"))) {
                fine++;
                assertEquals(3, ints(r).size(), id);
            } else {
                errors.put(id, r.getString(r.fieldIndex("error")));
                all.add(r.getString(r.fieldIndex("error")));
            }
        }
        assertEquals(2, fine);
        assertTrue(errors.get("noprompt").contains("prompt"), errors.toString());
        assertTrue(errors.get("module").contains("transformer.h.7"), errors.toString());
        assertTrue(errors.get("long").contains("positions"), errors.toString());
        assertEquals(5, all.size(), all.toString());
        assertTrue(all.stream().anyMatch(m -> m.contains("not valid JSON")), all.toString());
        assertTrue(all.stream().anyMatch(m -> m.contains("\"id\" is required")), all.toString());
    }

    @Test
    void theJobReadsJsonLinesWritesParquetAndFailsFastOnTheDriver() throws Exception {
        Path in = requests("job.jsonl", 10);
        Path out = dir.resolve("job-out.parquet");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = BatchJob.run(new String[]{"--model", model.toString(), "--in", in.toString(), "--out", out.toString(),
                "--max-batch", "4"}, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true));
        assertEquals(0, code, err.toString());
        Dataset<Row> written = spark.read().parquet(out.toString());
        assertEquals(BatchJob.RESULT_COLUMNS, List.of(written.schema().fieldNames()));
        Map<String, JsonNode> expected = steer4jBatch(in);
        for (Row r : written.collectAsList()) {
            assertEquals(expected.get(r.getString(0)).get("text").asText(), r.getString(r.fieldIndex("text")));
        }
        // a relative vector file resolves against the input's folder, as in steer4j batch
        Path relative = dir.resolve("relative.jsonl");
        Files.writeString(relative, "{\"id\": \"rel\", \"prompt\": \"Hello\", \"steer\": [{\"file\": \"last.safetensors\","
                + " \"coef\": 2}], \"max_new_tokens\": 3}\n");
        assertEquals(0, BatchJob.run(new String[]{"--model", model.toString(), "--in", relative.toString(), "--out",
                dir.resolve("relative-out.jsonl").toString()}, new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(new ByteArrayOutputStream())));
        ByteArrayOutputStream e2 = new ByteArrayOutputStream();
        assertEquals(2, BatchJob.run(new String[]{"--model", dir.resolve("missing.pt").toString(), "--in", in.toString(),
                "--out", dir.resolve("x.parquet").toString()}, new PrintStream(new ByteArrayOutputStream()), new PrintStream(e2, true)));
        assertTrue(e2.toString().strip().lines().count() == 1 && e2.toString().contains("model not found"), e2.toString());
        ByteArrayOutputStream e3 = new ByteArrayOutputStream();
        assertEquals(2, BatchJob.run(new String[]{"--model", model.toString(), "--in", in.toString(), "--out", out.toString()},
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(e3, true)));
        assertTrue(e3.toString().contains("exists"), e3.toString());
        assertThrows(InvalidInputException.class, () -> SteeredGeneration.generate(spark.read().json(in.toString()),
                new SteeredGeneration.Options(dir.resolve("nope.pt").toString(), "cpu", 2, List.of(), 5, null)));
    }

    @Test
    void vectorFilesShippedWithAddFileAreFoundInSparkFiles() throws Exception {
        Path elsewhere = Files.createTempDirectory("steer4j-spark-files");
        Path shipped = elsewhere.resolve("shipped-last.safetensors");
        Files.copy(dir.resolve("last.safetensors"), shipped);
        spark.sparkContext().addFile(shipped.toString()); // what spark-submit --files does
        Path in = dir.resolve("files.jsonl");
        Files.writeString(in, "{\"id\": \"f\", \"prompt\": \"I think dogs are \", \"steer\": [{\"file\":"
                + " \"shipped-last.safetensors\", \"coef\": 10}], \"max_new_tokens\": 12}\n");
        Row r = SteeredGeneration.generate(spark.read().json(in.toString()), options()).collectAsList().get(0);
        assertTrue(r.isNullAt(r.fieldIndex("error")), () -> r.getString(r.fieldIndex("error")));
        List<Integer> want = new ArrayList<>();
        Fixtures.expected("greedy.json").get("steered_last_token_unit_every_position_c10").get("new_ids")
                .forEach(x -> want.add(x.asInt()));
        assertEquals(want, ints(r), "steered by the shipped vector, as the reference");
    }

    @Test
    void eachExecutorRunsOnTheGpuSparkAssignedIt() {
        Map<String, ResourceInformation> two = Map.of("gpu", new ResourceInformation("gpu", new String[]{"1", "3"}));
        assertEquals("cuda:1", GpuAssignment.device(two, "cpu"));
        assertEquals("cpu", GpuAssignment.device(Map.of(), "cpu"));
        assertEquals("cuda:0", GpuAssignment.device(null, "cuda:0"));
        assertEquals("cpu", GpuAssignment.device(Map.of("gpu", new ResourceInformation("gpu", new String[0])), "cpu"));
    }
}
