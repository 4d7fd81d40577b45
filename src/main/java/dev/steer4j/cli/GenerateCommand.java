package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.request.Sampling;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.session.SteeringSession;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** Continues prompts, all in one batch, greedily (default) or by seeded sampling. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from prompts.")
final class GenerateCommand implements Callable<Integer> {
    /** Below this many token steps (new tokens x prompts) a progress bar is just noise. */
    private static final long PROGRESS_MIN_STEPS = 64;

    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    SteerOptions steerOptions;

    @Option(names = "--prompt", paramLabel = "P", description = "prompt (repeatable)")
    List<String> prompts;

    @Mixin
    RequestsFile requests;

    @Option(names = "--max-new-tokens", defaultValue = "20", paramLabel = "N",
            description = "tokens to generate per prompt (default 20; a row stops early at <|endoftext|>)")
    int maxNewTokens;

    @Option(names = "--greedy", description = "always take the most likely token (the default)")
    boolean greedy;

    // Boxed so that "given" can be told from "default": --greedy with any of them is an error.
    @Option(names = "--temperature", paramLabel = "T", description = "sampling temperature (default 1.0)")
    Double temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "sample from the K most likely tokens (default 0 = off)")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P", description = "nucleus sampling mass (default 1.0 = off)")
    Double topP;

    @Option(names = "--seed", paramLabel = "S", description = "random seed for sampling (default 0)")
    Long seed;

    @Option(names = "--json", description = "print one JSON object")
    boolean json;

    @Option(names = "--profile", paramLabel = "FILE.json",
            description = "write a Chrome/Perfetto trace: tokenize, prefill, decode steps, sampling, steering")
    java.nio.file.Path profile;

    @Override
    public Integer call() {
        // --profile: never a file read (model, tokenizer, vectors, requests); an existing file only if it is a trace
        Outputs.check("--profile", profile, dev.steer4j.profile.Profiler.TRACE, Outputs.model(modelOptions),
                Outputs.steer("--steer", steerOptions.steer), Outputs.file("--requests", requests.file));
        requests.checkExclusive(prompts);
        Sampling sampling = sampling();
        if (requests.given()) return runRequests(sampling);
        dev.steer4j.profile.Profiler profiler = profile == null ? null : dev.steer4j.profile.Profiler.start();
        List<Result> results;
        boolean showProgress = !json && (long) maxNewTokens * prompts.size() >= PROGRESS_MIN_STEPS;
        try (Gpt2Model model = modelOptions.load(); SteeringSession session = SteeringSession.open(model);
             StepProgress progress = new StepProgress(main.err(), maxNewTokens, showProgress)) {
            steerOptions.applyTo(session.hooks());
            results = session.generate(prompts, maxNewTokens, sampling, progress);
        }
        if (profiler != null) profiler.stopAndWrite(profile);
        List<Map<String, Object>> records = new ArrayList<>();
        for (Result g : results) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("prompt", g.prompt());
            r.put("ids", g.ids());
            r.put("new_ids", g.newIds());
            r.put("text", g.text());
            records.add(r);
        }
        print(records);
        return 0;
    }

    /** One JSON object of all results, or each prompt with its continuation, a blank line between. */
    private void print(List<Map<String, Object>> records) {
        if (json) {
            Json.print(main.out(), Map.of("results", records));
            return;
        }
        for (int i = 0; i < records.size(); i++) {
            if (i > 0) main.out().println();
            main.out().println(records.get(i).get("prompt") + (String) records.get(i).get("text"));
        }
    }

    /** {@code --requests}: one batch, each row with its own steering, limit and sampling. */
    private int runRequests(Sampling sampling) {
        dev.steer4j.profile.Profiler profiler = profile == null ? null : dev.steer4j.profile.Profiler.start();
        try (Gpt2Model model = modelOptions.load(); SteeringSession session = SteeringSession.open(model)) {
            List<Request> batch = requests.read(session, steerOptions, maxNewTokens, sampling);
            int longest = batch.stream().mapToInt(Request::maxNewTokens).max().orElse(0);
            List<Result> results;
            boolean showProgress = !json && (long) longest * batch.size() >= PROGRESS_MIN_STEPS;
            try (StepProgress progress = new StepProgress(main.err(), longest, showProgress)) {
                results = session.run(batch, progress);
            }
            if (profiler != null) profiler.stopAndWrite(profile);
            List<Map<String, Object>> records = new ArrayList<>();
            for (Result g : results) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("id", g.id());
                r.put("prompt", g.prompt());
                r.put("ids", g.ids());
                r.put("new_ids", g.newIds());
                r.put("text", g.text());
                r.put("finish_reason", g.finishReason().wireName());
                records.add(r);
            }
            print(records);
        }
        return 0;
    }

    private Sampling sampling() {
        boolean sampled = temperature != null || topK != null || topP != null || seed != null;
        if (greedy && sampled) {
            throw new InvalidInputException("--greedy cannot be combined with --temperature, --top-k, --top-p or --seed");
        }
        if (!sampled) {
            return Sampling.GREEDY;
        }
        return Sampling.sample(temperature == null ? 1.0 : temperature, topK == null ? 0 : topK,
                topP == null ? 1.0 : topP, seed == null ? 0 : seed);
    }
}
