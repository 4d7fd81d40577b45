package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.MemoryLimitException;
import dev.steer4j.bench.Bench;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.engine.BatchEngine;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.profile.Profiler;
import dev.steer4j.runtime.Tensors;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** Steered vs unsteered generation throughput, side by side in one process. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmark steered against unsteered generation (interleaved, after a warm-up).")
final class BenchCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    SteerOptions steerOptions;

    @Option(names = "--batch", defaultValue = "1", paramLabel = "B", description = "prompts per batch (default 1)")
    int batch;

    @Option(names = "--prompt-tokens", defaultValue = "16", paramLabel = "P", description = "tokens per prompt (default 16)")
    int promptTokens;

    @Option(names = "--new-tokens", defaultValue = "32", paramLabel = "N", description = "new tokens per prompt (default 32)")
    int newTokens;

    @Option(names = "--repeats", defaultValue = "5", paramLabel = "R", description = "measured repeats (default 5)")
    int repeats;

    @Option(names = "--warmup", defaultValue = "2", paramLabel = "W", description = "warm-up runs per side (default 2)")
    int warmup;

    @Option(names = "--dtype", paramLabel = "D", description = "run in float32, float16 or bfloat16 (default: the model's)")
    String dtype;

    @Option(names = "--threads", paramLabel = "T", description = "libtorch intra-op threads (default: steer4j's measured default; STEER4J_THREADS=native for libtorch's own)")
    Integer threads;

    @Option(names = "--distinct", paramLabel = "K",
            description = "steered side: K distinct vectors and coefficients across the batch rows, per-request"
                    + " style (one per-row hook per block); default: one vector on every block for all rows")
    Integer distinct;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "seed for prompts and the default vector")
    long seed;

    @Option(names = "--soak-calls", defaultValue = "0", paramLabel = "N",
            description = "also run N short steered generate calls and report memory growth")
    int soakCalls;

    @Option(names = "--bandwidth-gbps", paramLabel = "GB/s",
            description = "memory bandwidth of the device, to report the decode step's roofline fraction")
    Double bandwidthGbps;

    @Option(names = "--profile", paramLabel = "FILE.json", description = "write a Chrome/Perfetto trace of the run")
    Path profile;

    @Option(names = "--json", description = "print one JSON object")
    boolean json;

    @Override
    public Integer call() {
        // --profile: never a file read (model, tokenizer, vectors); an existing file only if it is a trace
        Outputs.check("--profile", profile, Profiler.TRACE, Outputs.model(modelOptions), Outputs.steer("--steer", steerOptions.steer));
        if (batch < 1 || promptTokens < 1 || newTokens < 1 || repeats < 1 || warmup < 0 || soakCalls < 0) {
            throw new InvalidInputException("--batch, --prompt-tokens, --new-tokens and --repeats must be >= 1");
        }
        if (threads != null) {
            if (threads < 1) throw new InvalidInputException("--threads must be >= 1");
            dev.steer4j.runtime.Threads.set(threads);
        }
        Gpt2Model model = modelOptions.load();
        if (dtype != null) model = model.withDtype(Tensors.parseFloatType(dtype));
        if (promptTokens + newTokens > model.maxPositions()) {
            throw new InvalidInputException("--prompt-tokens + --new-tokens = " + (promptTokens + newTokens)
                    + " exceeds the model's " + model.maxPositions() + " positions");
        }
        try { // before the prompts, vectors and caches of --batch rows are made
            // a foreign model has no KV cache (it recomputes every step): nothing of this size to check
            if (model.kind() == Gpt2Model.Kind.STEER4J) BatchEngine.requireMemory(model, batch, promptTokens + newTokens);
        } catch (MemoryLimitException e) {
            throw e.withSubject("--batch " + batch);
        }
        Profiler profiler = profile == null ? null : Profiler.start();
        HookedModel steered = steerOptions.apply(model);
        boolean defaultSteer = steerOptions.steer.isEmpty();
        if (distinct != null) {
            if (distinct < 1 || distinct > batch) throw new InvalidInputException("--distinct must be between 1 and --batch (" + batch + ")");
            if (!defaultSteer) throw new InvalidInputException("--distinct makes its own vectors; it cannot be combined with --steer");
            Bench.steerDistinct(steered, batch, distinct, seed);
        } else if (defaultSteer) {
            Bench.steerEveryBlock(steered, seed);
        }
        Map<String, Object> result = new LinkedHashMap<>();
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("model", modelOptions.model == null ? "built-in (docs/DEFAULT_MODEL.md)" : modelOptions.model.toString());
        settings.put("kind", model.kind() == Gpt2Model.Kind.STEER4J ? "steer4j" : "foreign");
        settings.put("device", modelOptions.device);
        settings.put("dtype", Tensors.floatTypeName(model.dtype()));
        settings.put("batch", batch);
        settings.put("prompt_tokens", promptTokens);
        settings.put("new_tokens", newTokens);
        settings.put("repeats", repeats);
        settings.put("warmup", warmup);
        settings.put("threads", torch.get_num_threads());
        settings.put("parallel", dev.steer4j.runtime.Threads.report());
        settings.put("steer", distinct != null
                ? distinct + " distinct random vectors and coefficients across the rows, on every block (" + model.layers() + ")"
                : defaultSteer ? "default: a unit random vector x4 on every block (" + model.layers() + ")"
                : String.join(" ", steerOptions.steer));
        settings.put("distinct", distinct == null ? 1 : distinct);
        result.put("settings", settings);
        result.putAll(Bench.run(model, steered, new Bench.Settings(batch, promptTokens, newTokens, repeats, warmup, seed)));
        if (bandwidthGbps != null) {
            Object achieved = result.get("weight_read_gbps_per_decode_step");
            result.put("bandwidth_gbps", bandwidthGbps);
            result.put("roofline_fraction", achieved == null ? null : (Double) achieved / bandwidthGbps);
        }
        if (soakCalls > 0) result.put("soak", Bench.soak(steered, soakCalls, seed));
        if (profiler != null) profiler.stopAndWrite(profile);
        if (json) {
            Json.print(main.out(), result);
        } else {
            main.out().println(Json.write(result));
        }
        return 0;
    }
}
