package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.MemoryLimitException;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.io.IoErrors;
import dev.steer4j.io.OutputFiles;
import dev.steer4j.metrics.ConceptWords;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.session.SteeringSession;
import dev.steer4j.steering.VectorFiles;
import dev.steer4j.steering.io.VectorSet;
import dev.steer4j.sweep.Sweep;
import dev.steer4j.sweep.SweepFiles;
import dev.steer4j.sweep.SweepPlan;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * A steering sweep: every module × coefficient × prompt × sample as one continuous-batching engine job with
 * per-request steering, each cell measured without a judge (docs/METRICS.md), the best setting chosen on half of
 * the prompts and reported on the other, and a folder of results: cells.jsonl, summary.json, PNG plots and a
 * self-contained report.html.
 */
@Command(name = "sweep", mixinStandardHelpOptions = true,
        description = "Sweep a steering vector over modules and coefficients: metrics, plots and an HTML report.")
final class SweepCommand implements Callable<Integer> {
    static final int DEFAULT_MAX_BATCH = 32;
    private static final Pattern RANGE = Pattern.compile("(.*?)(\\d+)-(\\d+)");

    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--vector", required = true, paramLabel = "V.safetensors",
            description = "steering vector file, one vector per module: [d], added at every position, or [T, d]"
                    + " (vector --reduce none), row p added at the prompt's position p as ActAdd does")
    Path vector;

    @Option(names = "--modules", paramLabel = "LIST", split = ",",
            description = "modules, comma-separated; a trailing range expands: transformer.h.0-11")
    List<String> modulesList;

    @Option(names = "--module", paramLabel = "M", description = "a module (repeatable); default: the vector file's modules")
    List<String> moduleFlags;

    @Option(names = "--coefs", required = true, paramLabel = "C,C,...", split = ",",
            description = "coefficients, e.g. -20,-10,-5,0,5,10,20 (0 is always run: the baseline)")
    List<Double> coefs;

    @Option(names = "--prompt", paramLabel = "P", description = "prompt (repeatable)")
    List<String> prompts;

    @Option(names = "--prompts", paramLabel = "FILE", description = "prompts, one per line (blank lines and # comment lines skipped)")
    Path promptsFile;

    @Option(names = "--concept-words", paramLabel = "FILE", description = "words of the concept, one per line (each one token after a space)")
    Path conceptWords;

    @Option(names = "--opposite-words", paramLabel = "FILE", description = "words of the opposite concept, one per line")
    Path oppositeWords;

    @Option(names = "--max-new-tokens", defaultValue = "20", paramLabel = "N", description = "tokens per continuation (default 20)")
    int maxNewTokens;

    @Option(names = "--samples", defaultValue = "1", paramLabel = "K", description = "continuations per prompt and setting (default 1: greedy)")
    int samples;

    @Option(names = "--seed", paramLabel = "S", description = "sample: sample k draws from seed S + k (default 0 when --samples > 1)")
    Long seed;

    @Option(names = "--temperature", defaultValue = "1.0", paramLabel = "T", description = "sampling temperature (default 1.0)")
    double temperature;

    @Option(names = "--max-batch", paramLabel = "B", description = "slots of the engine (default " + DEFAULT_MAX_BATCH + ")")
    Integer maxBatch;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output folder (new, empty, or an earlier sweep's)")
    Path out;

    @Option(names = "--json", description = "print summary.json's object on stdout")
    boolean json;

    @Override
    public Integer call() {
        List<OutputFiles.Named> inputs = new ArrayList<>(Outputs.model(modelOptions));
        inputs.addAll(Outputs.file("--vector", vector));
        inputs.addAll(Outputs.file("--prompts", promptsFile));
        inputs.addAll(Outputs.file("--concept-words", conceptWords));
        inputs.addAll(Outputs.file("--opposite-words", oppositeWords));
        SweepFiles.check(new OutputFiles.Named("--out", out), inputs);
        List<String> texts = prompts();
        int slots = maxBatch == null ? DEFAULT_MAX_BATCH : maxBatch;
        if (slots < 1) throw new InvalidInputException("--max-batch must be >= 1, got " + slots);
        VectorSet vectors = VectorFiles.read(vector);
        List<String> modules = modules(vectors);
        Map<String, float[]> byModule = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        Set<String> aligned = new HashSet<>();
        for (String m : modules) {
            String name = vectorFor(vectors, m);
            int[] shape = vectors.shape(name);
            byModule.put(m, vectors.data(name));
            shapes.put(m, shape);
            if (shape.length == 2) aligned.add(m);
        }
        double[] c = coefs.stream().mapToDouble(Double::doubleValue).toArray();
        SweepPlan plan = new SweepPlan(modules, byModule, aligned, c, texts, samples, seed, temperature, maxNewTokens);
        Map<String, Object> summary;
        try (Gpt2Model model = modelOptions.load(); SteeringSession session = SteeringSession.open(model)) {
            for (String m : modules) {
                if (!HookedModel.isHookable(model, m)) throw new InvalidInputException("--module " + m + ": no such hookable module (see `steer4j modules`)");
                int[] shape = shapes.get(m);
                if (shape[shape.length - 1] != model.width()) {
                    throw new InvalidInputException("--vector " + vector + ": the vector for " + m + " has shape " + Arrays.toString(shape)
                            + ", the model's width is " + model.width() + " ([d] or [T, d])");
                }
            }
            ConceptWords concept = conceptWords == null ? ConceptWords.NONE : ConceptWords.read(conceptWords, model.tokenizer(), "--concept-words");
            ConceptWords opposite = oppositeWords == null ? ConceptWords.NONE : ConceptWords.read(oppositeWords, model.tokenizer(), "--opposite-words");
            Sweep.Outcome o;
            try {
                o = Sweep.run(session, plan, concept, opposite, slots, new Sweep.Progress() {
                    @Override public void checked() { // after the checks, so that a refusal is the only line
                        main.err().printf("sweep: %d cells (%d modules × %d coefficients × %d prompts × %d samples)%n", plan.cells(),
                                modules.size(), plan.coefficients().length, texts.size(), plan.samples());
                    }

                    @Override public void generated(int done, int total) {
                        if (done == total || done % 100 == 0) main.err().printf("sweep: %d of %d generations done%n", done, total);
                    }

                    @Override public void measuring(int total) {
                        main.err().printf("sweep: measuring %d cells%n", total);
                    }
                });
            } catch (MemoryLimitException e) {
                throw e.withSubject("--max-batch " + slots);
            }
            Map<String, Object> meta = new LinkedHashMap<>();
            meta.put("model", modelOptions.model == null ? "built-in" : modelOptions.model.toString());
            meta.put("vector", vector.toString());
            meta.put("concept_words", concept.words());
            meta.put("opposite_words", opposite.words());
            summary = SweepFiles.write(out, o, model.tokenizer(), meta, "steer4j sweep: " + vector.getFileName());
            main.err().printf(Locale.ROOT, "sweep: best %s at %s: aggregate %.4f on the selection prompts, %.4f %s; %d generations"
                            + " (%d tokens) in %.1f s, measured in %.1f s; wrote %s%n", o.choice().best().module(),
                    o.choice().best().coefficient(), o.choice().selectionScore(), o.choice().reportScore(),
                    o.choice().heldOut() ? "on the held-out ones" : "(one prompt: none held out)", o.generations(),
                    o.newTokens(), o.generateSeconds(), o.measureSeconds(), out.resolve("report.html"));
        }
        if (json) Json.print(main.out(), summary);
        return 0;
    }

    /** The prompts of a prompts file's lines, spaces kept; blank lines and, as in word lists, {@code #} lines skipped. */
    static List<String> promptLines(List<String> lines) {
        return lines.stream().filter(s -> !s.isBlank() && !s.startsWith("#")).toList();
    }

    private List<String> prompts() {
        if ((prompts == null) == (promptsFile == null)) throw new InvalidInputException("give --prompt P (repeatable) or --prompts FILE, not both or neither");
        if (prompts != null) return prompts;
        try {
            List<String> l = promptLines(Files.readAllLines(promptsFile, StandardCharsets.UTF_8));
            if (l.isEmpty()) throw new InvalidInputException("--prompts " + promptsFile + " has no prompts");
            return l;
        } catch (IOException e) {
            throw new InvalidInputException("--prompts " + promptsFile + ": " + IoErrors.reason(e), e);
        }
    }

    private List<String> modules(VectorSet vectors) {
        List<String> l = new ArrayList<>();
        if (modulesList != null) for (String s : modulesList) l.addAll(expand(s.strip()));
        if (moduleFlags != null) l.addAll(moduleFlags);
        if (l.isEmpty()) l.addAll(vectors.names());
        List<String> distinct = l.stream().distinct().toList();
        if (distinct.isEmpty()) throw new InvalidInputException("--vector " + vector + " holds no vectors");
        return distinct;
    }

    static List<String> expand(String spec) {
        Matcher m = RANGE.matcher(spec);
        if (!m.matches()) return List.of(spec);
        int from = Integer.parseInt(m.group(2));
        int to = Integer.parseInt(m.group(3));
        if (to < from || to - from > 1000) throw new InvalidInputException("--modules " + spec + ": not a range low-high");
        List<String> l = new ArrayList<>();
        for (int i = from; i <= to; i++) l.add(m.group(1) + i);
        return l;
    }

    /** The name of the file's entry for {@code module} ({@code [d]} or {@code [T, d]}); a file of one entry serves every module. */
    private String vectorFor(VectorSet vectors, String module) {
        String name = vectors.contains(module) ? module : vectors.size() == 1 ? vectors.names().get(0) : null;
        if (name == null) {
            throw new InvalidInputException("--vector " + vector + " has no vector for " + module + " (it has " + vectors.names() + ")");
        }
        return name;
    }
}
