package dev.steer4j.spark;

import dev.steer4j.InvalidInputException;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Request;
import dev.steer4j.request.json.RequestReader;
import dev.steer4j.request.Result;
import dev.steer4j.steering.SteerSpec;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.SparkFiles;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Steered generation over a DataFrame: each partition's requests go through the executor's
 * continuous-batching engine ({@link ExecutorEngines}: one model per executor JVM and device, loaded once).
 * Output = the input columns plus {@code new_ids}, {@code text}, {@code finish_reason}, {@code prompt_tokens},
 * {@code new_tokens} and {@code error}; a bad row gets its message in {@code error} (the others succeed), never
 * a failed job. Greedy and seeded sampling are deterministic per request, so a retried or speculated task
 * writes the same rows. Steering files come from a shared path or from {@code --files} (SparkFiles).
 */
public final class SteeredGeneration {
    /**
     * {@code model}: a steer4j {@code .pt} every executor can read (null: the built-in model); {@code device}:
     * used unless Spark assigned the task a GPU; {@code steer}: {@code FILE[*COEF][@POSITIONS]} specs for rows
     * without a {@code steer} column value; {@code maxNewTokens}: for rows without {@code max_new_tokens};
     * {@code files}: a folder where relative vector files are looked for (after the working directory, before
     * SparkFiles), e.g. the input's, or null.
     */
    public record Options(String model, String device, int maxBatch, List<String> steer, int maxNewTokens, String files)
            implements Serializable {
        public Options {
            steer = List.copyOf(steer);
            if (maxBatch < 1) throw new InvalidInputException("the engine needs at least 1 slot, got " + maxBatch);
            if (maxNewTokens < 0) throw new InvalidInputException("max new tokens must be >= 0, got " + maxNewTokens);
        }
    }

    private SteeredGeneration() {}

    /** Checks on the driver what can be checked there (the model path, the specs, the columns), then maps. */
    public static Dataset<Row> generate(Dataset<Row> input, Options options) {
        if (options.model() != null && !Files.isRegularFile(Path.of(options.model()))) {
            throw new InvalidInputException("model not found: " + options.model()
                    + " (it must be a path every executor can read, e.g. on a shared file system)");
        }
        for (String s : options.steer()) SteerSpec.parse(s);
        if (!Arrays.asList(input.schema().fieldNames()).contains("prompt")) {
            throw new InvalidInputException("the input has no 'prompt' column (it has " + String.join(", ",
                    input.schema().fieldNames()) + ")");
        }
        StructType out = input.schema()
                .add("new_ids", DataTypes.createArrayType(DataTypes.IntegerType), true)
                .add("text", DataTypes.StringType, true)
                .add("finish_reason", DataTypes.StringType, true)
                .add("prompt_tokens", DataTypes.IntegerType, true)
                .add("new_tokens", DataTypes.IntegerType, true)
                .add("error", DataTypes.StringType, true);
        return input.mapPartitions(new Partition(options), Encoders.row(out));
    }

    /** One partition through the executor's engine; rows come out in the order they went in. */
    static final class Partition implements MapPartitionsFunction<Row, Row> {
        private final Options options;

        Partition(Options options) {
            this.options = options;
        }

        @Override
        public Iterator<Row> call(Iterator<Row> rows) {
            List<Row> in = new ArrayList<>();
            rows.forEachRemaining(in::add);
            if (in.isEmpty()) return in.iterator();
            TaskContext task = TaskContext.get();
            String device = GpuAssignment.device(task == null ? null : task.resourcesJMap(), options.device());
            return ExecutorEngines.with(options.model(), device, options.maxBatch(), e -> run(e, in)).iterator();
        }

        private List<Row> run(dev.steer4j.Session session, List<Row> in) {
            RequestReader reader = new RequestReader(java.util.Arrays.asList(
                    options.files() == null ? null : Path.of(options.files()), sparkFiles()), options.steer().stream().map(SteerSpec::parse).toList(),
                    options.maxNewTokens(), Sampling.GREEDY);
            int n = in.size();
            String[] errors = new String[n];
            Result[] results = new Result[n];
            List<Request> valid = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                try {
                    Request r = reader.parse(RowRequests.json(in.get(i)), null);
                    if (r.id() == null) throw new InvalidInputException("\"id\" is required");
                    // the engine knows a row by its index here: ids may repeat across or within partitions
                    valid.add(new Request(Integer.toString(i), r.prompt(), r.steer(), r.maxNewTokens(), r.sampling()));
                } catch (InvalidInputException x) {
                    errors[i] = x.getMessage();
                }
            }
            // the engine checks each request against the model; a refused one comes back through failed()
            session.run(valid.iterator(), options.maxBatch(), new dev.steer4j.ResultSink() {
                @Override public void completed(Result r) { results[Integer.parseInt(r.id())] = r; }

                @Override public void failed(Request r, String message) { errors[Integer.parseInt(r.id())] = message; }
            });
            List<Row> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) out.add(withResult(in.get(i), results[i], errors[i]));
            return out;
        }

        private static Row withResult(Row row, Result r, String error) {
            Object[] values = new Object[row.length() + 6];
            for (int c = 0; c < row.length(); c++) values[c] = row.get(c);
            int k = row.length();
            if (r != null) {
                List<Integer> ids = new ArrayList<>(r.newIds().length);
                for (int id : r.newIds()) ids.add(id);
                values[k] = scala.jdk.javaapi.CollectionConverters.asScala(ids); // the row encoder wants a Scala Seq
                values[k + 1] = r.text();
                values[k + 2] = r.finishReason().wireName();
                values[k + 3] = r.ids().length;
                values[k + 4] = r.newIds().length;
            }
            values[k + 5] = error;
            return RowFactory.create(values);
        }

        /** Where {@code --files} put the steering files on this executor, if anywhere. */
        private static Path sparkFiles() {
            try {
                return Path.of(SparkFiles.getRootDirectory());
            } catch (RuntimeException e) {
                return null; // no SparkEnv (not inside a Spark task)
            }
        }
    }
}
