package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.MemoryLimitException;
import dev.steer4j.Model;
import dev.steer4j.Session;
import dev.steer4j.batch.ResultLog;
import dev.steer4j.batch.ResumableBatch;
import dev.steer4j.request.Sampling;
import java.nio.file.Path;
import dev.steer4j.bench.Roofline;
import dev.steer4j.runtime.Devices;
import dev.steer4j.runtime.Tensors;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** The batch job: a JSONL file of requests through the continuous-batching engine, resumable. */
@Command(name = "batch", mixinStandardHelpOptions = true,
        description = "Steered generation for every request of a JSONL file, one result line each, resumable.")
final class BatchCommand implements Callable<Integer> {
    /** Slots of the engine when --max-batch is not given (BENCHMARKS.md: the measured best on this machine kind). */
    static final int DEFAULT_MAX_BATCH = 32;

    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    SteerOptions steerOptions;

    @Option(names = "--in", required = true, paramLabel = "FILE.jsonl",
            description = "requests, one JSON object per line (the objects of generate --requests), read as a stream")
    Path in;

    @Option(names = "--out", required = true, paramLabel = "FILE.jsonl",
            description = "results, one line per request as it finishes; rerunning skips the ids already there")
    Path out;

    @Option(names = "--max-batch", paramLabel = "B", description = "slots of the engine (default " + DEFAULT_MAX_BATCH + ")")
    Integer maxBatch;

    @Option(names = "--max-new-tokens", defaultValue = "20", paramLabel = "N",
            description = "token limit for lines that give no max_new_tokens (default 20)")
    int maxNewTokens;

    @Option(names = "--json", description = "print one summary object on stdout at the end")
    boolean json;

    @Option(names = "--token-budget", paramLabel = "N", description = "chunked prefill: each step feeds the model at most N"
            + " tokens, every running request's next one, then chunks of waiting prompts (more than --max-batch, or 0: off,"
            + " prompts prefilled between steps; default: the larger of 256 and twice --max-batch)")
    Integer tokenBudget;

    @Option(names = "--static-batches", description = "no continuous batching: consecutive static batches of"
            + " --max-batch requests, each as long as its longest (the baseline of the batch benchmark)")
    boolean staticBatches;

    @Override
    public Integer call() {
        // --out: never a file read (--in, the model, its tokenizer, --steer vectors); an existing file only if it is a
        // results file, which the job resumes
        Outputs.check("--out", out, ResultLog.KIND, Outputs.file("--in", in), Outputs.model(modelOptions),
                Outputs.steer("--steer", steerOptions.steer));
        int slots = maxBatch == null ? DEFAULT_MAX_BATCH : maxBatch;
        if (slots < 1) throw new InvalidInputException("--max-batch must be >= 1, got " + slots);
        if (tokenBudget != null && tokenBudget != 0 && tokenBudget <= slots) {
            throw new InvalidInputException("--token-budget must be 0 (off) or more than --max-batch (" + slots + "), got " + tokenBudget);
        }
        if (tokenBudget != null && staticBatches) throw new InvalidInputException("--token-budget is for the engine, not --static-batches");
        if (maxNewTokens < 0) throw new InvalidInputException("--max-new-tokens must be >= 0, got " + maxNewTokens);
        ResumableBatch.Options options = new ResumableBatch.Options(in, out, slots, steerOptions.specsForRequests(), maxNewTokens,
                Sampling.GREEDY, staticBatches, tokenBudget == null ? OptionalInt.empty() : OptionalInt.of(tokenBudget));
        ResumableBatch.Summary summary;
        Map<String, Object> peaks = null;
        try (Model model = modelOptions.open(); Session session = model.session();
             Bar bar = new Bar(main)) {
            summary = ResumableBatch.run(session, options, bar);
            if (json && !staticBatches) peaks = peaks(model, summary);
        } catch (MemoryLimitException e) { // the engine's slots, refused before anything was allocated or written
            throw e.withSubject("--max-batch " + slots);
        }
        long bad = summary.errors() + summary.earlierErrors();
        String line = String.format(Locale.ROOT, "batch: %d requests done, %d skipped (already in %s), %d bad lines%s;"
                        + " %d new tokens in %.1f s (%.1f tokens/s)", summary.requests(), summary.skipped(), out, bad,
                bad > 0 ? " (error records in " + out + ")" : "", summary.newTokens(), summary.seconds(),
                summary.tokensPerSecond());
        main.err().println(line);
        if (json) {
            Map<String, Object> m = summary.toMap();
            if (peaks != null) m.put("roofline", peaks);
            Json.print(main.out(), m);
        }
        return bad > 0 ? Failures.BAD_INPUT : 0;
    }

    /** The run's model GFLOP/s against this device's gemm peak, measured now, after the run (bench/Roofline). */
    private static Map<String, Object> peaks(Model model, ResumableBatch.Summary summary) {
        Object achieved = summary.engine().get("achieved_gflops");
        if (!(achieved instanceof Double gflops) || gflops <= 0) return null;
        Roofline.Peaks p = Roofline.measure(Devices.parse(model.device().name()), Tensors.parseFloatType(model.dtype().name().toLowerCase(Locale.ROOT)));
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("achieved_gflops", gflops);
        m.put("gemm_peak_gflops", p.gemmGflops());
        m.put("gemm_fraction", gflops / p.gemmGflops());
        return m;
    }

    /** Requests done / total (when countable), tokens/s and ETA on stderr. */
    private static final class Bar implements ResumableBatch.Progress, AutoCloseable {
        private final Main main;
        private ProgressBar bar;

        Bar(Main main) {
            this.main = main;
        }

        @Override
        public void start(long total) {
            ProgressBarStyle style = System.console() != null ? ProgressBarStyle.COLORFUL_UNICODE_BLOCK : ProgressBarStyle.ASCII;
            bar = new ProgressBarBuilder().setTaskName("batch").setInitialMax(total).setStyle(style).setUnit(" requests", 1)
                    .setConsumer(new ConsoleProgressBarConsumer(main.err(), 100)).build();
        }

        @Override
        public void update(long finished, long newTokens, double seconds) {
            bar.stepTo(finished);
            bar.setExtraMessage(String.format(Locale.ROOT, "%.0f tokens/s", seconds > 0 ? newTokens / seconds : 0));
        }

        @Override
        public void close() {
            if (bar != null) bar.close();
        }
    }
}
