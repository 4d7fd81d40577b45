package dev.steer4j.spark;

import dev.steer4j.InvalidInputException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code steer4j batch} on Spark: the same request schema in (JSON lines or Parquet), the same fields out
 * (Parquet or JSON lines, written the Spark way: a directory of part files).
 *
 * <pre>
 * spark-submit --class dev.steer4j.spark.BatchJob target/steer4j-spark.jar --model M.pt --in requests.jsonl --out results.parquet
 * </pre>
 * Also runs with plain {@code java} and {@code -Dspark.master=local[2]}.
 */
@Command(name = "dev.steer4j.spark.BatchJob", mixinStandardHelpOptions = true,
        description = "Steered generation for every request of a JSON-lines or Parquet input, on Spark.")
public final class BatchJob implements Callable<Integer> {
    /** The columns of a result, as steer4j batch writes them. */
    static final List<String> RESULT_COLUMNS = List.of("id", "prompt", "new_ids", "text", "finish_reason", "prompt_tokens",
            "new_tokens", "error");

    @Option(names = "--model", paramLabel = "FILE.pt", description = "a steer4j .pt every executor can read (default: the built-in model)")
    String model;

    @Option(names = "--in", required = true, paramLabel = "PATH", description = "requests: .jsonl / .json (JSON lines) or .parquet")
    String in;

    @Option(names = "--out", required = true, paramLabel = "PATH", description = "results: .parquet or .jsonl (a directory); must not exist")
    String out;

    @Option(names = "--steer", paramLabel = "FILE[*COEF][@POSITIONS]", description = "steering for rows that give none (repeatable)")
    List<String> steer = List.of();

    @Option(names = "--max-batch", defaultValue = "32", paramLabel = "B", description = "slots of each executor's engine (default 32, as steer4j batch)")
    int maxBatch;

    @Option(names = "--max-new-tokens", defaultValue = "20", paramLabel = "N", description = "limit for rows that give none (default 20)")
    int maxNewTokens;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "D",
            description = "cpu (default) or cuda:N, for executors Spark assigns no GPU")
    String device;

    private PrintStream err;

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the job; returns the exit code (0 done, 2 bad input, 1 internal failure). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        BatchJob job = new BatchJob();
        job.err = err;
        CommandLine cl = new CommandLine(job);
        cl.setOut(new java.io.PrintWriter(out, true));
        cl.setErr(new java.io.PrintWriter(err, true));
        cl.setExecutionExceptionHandler((e, line, parsed) -> {
            boolean bad = e instanceof InvalidInputException;
            err.println("steer4j-spark: " + (bad ? "" : "internal error: " + e.getClass().getSimpleName() + ": ")
                    + firstLine(e.getMessage()));
            return bad ? 2 : 1;
        });
        return cl.execute(args);
    }

    @Override
    public Integer call() {
        String inFormat = format(in, "--in");
        String outFormat = format(out, "--out");
        if (Files.exists(Path.of(out))) throw new InvalidInputException("--out " + out + " exists: give a new path");
        if (!in.contains("://") && !Files.exists(Path.of(in))) throw new InvalidInputException("--in " + in + ": no such file");
        if (model != null && !model.contains("://") && !Files.isRegularFile(Path.of(model))) {
            throw new InvalidInputException("--model " + model + ": model not found");
        }
        quietUnlessConfigured();
        SparkSession spark = SparkSession.builder().appName("steer4j batch").getOrCreate();
        spark.sparkContext().setLogLevel("WARN"); // Spark's INFO lines would bury the job's own
        Dataset<Row> requests = inFormat.equals("parquet") ? spark.read().parquet(in) : spark.read().json(in);
        Dataset<Row> results = SteeredGeneration.generate(requests,
                new SteeredGeneration.Options(model, device, maxBatch, steer, maxNewTokens, localFolder(in)));
        Dataset<Row> rows = results.selectExpr(columns(results));
        boolean done = false;
        try {
            if (outFormat.equals("parquet")) rows.write().parquet(out);
            else rows.write().json(out);
            done = true;
        } finally {
            // else the rerun is refused: the output exists. (A finally, as a failed job throws SparkException,
            // which Scala throws unchecked but is no RuntimeException.)
            if (!done) removeUnfinished(Path.of(out));
        }
        // read back what was written (counting the mapped rows would run the generation again); JSON leaves
        // null columns out, so read it with the schema that was written
        Dataset<Row> written = outFormat.equals("parquet") ? spark.read().parquet(out) : spark.read().schema(rows.schema()).json(out);
        long total = written.count();
        long bad = written.filter("error IS NOT NULL").count();
        err.println(String.format(Locale.ROOT, "steer4j-spark: %d requests, %d with an error, written to %s", total, bad, out));
        return bad > 0 ? 2 : 0;
    }

    /**
     * Spark logs at INFO from its first line, before any setLogLevel: ~5 KB on stderr ahead of the job's one line.
     * Start at WARN, as Spark's own shells do, unless the user configured logging.
     */
    private static void quietUnlessConfigured() {
        if (System.getProperty("log4j2.configurationFile") != null || System.getProperty("log4j.configurationFile") != null
                || BatchJob.class.getClassLoader().getResource("log4j2.properties") != null
                || BatchJob.class.getClassLoader().getResource("log4j2.xml") != null) {
            return;
        }
        org.apache.logging.log4j.core.config.Configurator.setRootLevel(org.apache.logging.log4j.Level.WARN);
    }

    /** A failed write leaves its directory without a _SUCCESS marker: take it away (local paths only). */
    private void removeUnfinished(Path dir) {
        if (out.contains("://") || !Files.isDirectory(dir) || Files.exists(dir.resolve("_SUCCESS"))) return;
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (java.io.IOException e) {
            err.println("steer4j-spark: could not remove the unfinished output " + dir + ": " + e.getMessage());
        }
    }

    /** The result columns, in steer4j batch's order (id and prompt may be missing from the input). */
    private static String[] columns(Dataset<Row> results) {
        List<String> have = List.of(results.schema().fieldNames());
        return RESULT_COLUMNS.stream().filter(have::contains).toArray(String[]::new);
    }

    /** The input's folder when it is a local path (relative vector files resolve there, as in steer4j batch). */
    private static String localFolder(String path) {
        if (path.contains("://")) return null;
        Path parent = Path.of(path).toAbsolutePath().getParent();
        return parent == null ? null : parent.toString();
    }

    private static String format(String path, String flag) {
        String p = path.toLowerCase(Locale.ROOT).replaceAll("/+$", "");
        if (p.endsWith(".parquet")) return "parquet";
        if (p.endsWith(".jsonl") || p.endsWith(".json")) return "json";
        throw new InvalidInputException(flag + " " + path + ": name it .jsonl or .parquet (the format goes by the name)");
    }

    private static String firstLine(String s) {
        if (s == null) return "no details";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
