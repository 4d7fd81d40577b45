package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.request.Sampling;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.request.Result;
import dev.steer4j.session.Edit;
import dev.steer4j.session.SteeringSession;
import dev.steer4j.steering.ActAdd;
import dev.steer4j.steering.Reduce;
import dev.steer4j.steering.io.VectorSet;
import dev.steer4j.metrics.CellMetrics;
import dev.steer4j.metrics.ConceptWords;
import dev.steer4j.request.Request;
import dev.steer4j.request.Steer;
import dev.steer4j.sweep.Sweep;
import dev.steer4j.sweep.SweepCell;
import dev.steer4j.sweep.SweepFiles;
import dev.steer4j.sweep.SweepPlan;
import java.nio.file.Path;
import java.util.Locale;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * The seed experiment end to end: a love − hate ActAdd vector (unit norm) at the output of one block, added with
 * +c and −c at every position of every forward pass, against no steering: greedy, 10 tokens after "I think dogs
 * are " and the first two held-out prompts, each continuation measured under it. On a user's model the seed's
 * settings ("Love" − "Hate", the last token's difference, at block 5 or the last block of a smaller model;
 * c = 10); on the built-in model the pair, block and coefficient that scripts/builtin_effect.py chose on the
 * other half of the prompts (docs/DEFAULT_MODEL.md).
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run the Love/Hate steering experiment (unsteered, +c, -c) side by side.")
final class DemoCommand implements Callable<Integer> {
    /** The seed's prompt, then the first two held-out prompts (lines 2 and 4 of steer4j/demo/prompts.txt). */
    static final List<String> PROMPTS = List.of("I think dogs are ", DemoLists.prompts().get(1), DemoLists.prompts().get(3));
    static final int NEW_TOKENS = 10;
    static final double SEED_COEFFICIENT = 10;
    static final String SEED_POSITIVE = "Love";
    static final String SEED_NEGATIVE = "Hate";
    /**
     * The built-in model's settings, chosen by scripts/builtin_effect.py on the selection half of the prompts. The
     * words as running text has them: with GPT-2's tokenizer "Hate" is two tokens ("H", "ate"), and the seed's
     * pair moved the love words the wrong way in this model (docs/DEFAULT_MODEL.md).
     */
    static final String BUILT_IN_POSITIVE = " love";
    static final String BUILT_IN_NEGATIVE = " hate";
    static final String BUILT_IN_MODULE = "transformer.h.2";
    static final double BUILT_IN_COEFFICIENT = 32;

    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--module", paramLabel = "M",
            description = "block to steer (default: transformer.h.5, or the last block of a smaller model; the built-in model's own choice)")
    String module;

    @Option(names = "--coefficient", paramLabel = "C",
            description = "steering coefficient c, run as +c and -c (default 10; the built-in model's own choice)")
    Double coefficient;

    @Option(names = "--json", description = "print one JSON object")
    boolean json;

    @Option(names = "--report", paramLabel = "FILE.html",
            description = "also write the sweep report (plots, scores, token heat map) of the demo's runs")
    Path report;

    /** The words whose next-token probability the demo reports: the lists fixed before training (DemoLists). */
    static final List<String> LOVE_WORDS = DemoLists.loveWords();
    static final List<String> HATE_WORDS = DemoLists.hateWords();

    @Override
    public Integer call() {
        Gpt2Model model = modelOptions.load();
        boolean builtIn = modelOptions.model == null;
        String at = module != null ? module
                : builtIn ? BUILT_IN_MODULE : "transformer.h." + Math.min(5, model.layers() - 1);
        double c = coefficient != null ? coefficient : builtIn ? BUILT_IN_COEFFICIENT : SEED_COEFFICIENT;
        String positive = builtIn ? BUILT_IN_POSITIVE : SEED_POSITIVE;
        String negative = builtIn ? BUILT_IN_NEGATIVE : SEED_NEGATIVE;
        String pair = " (" + positive.strip() + " - " + negative.strip() + ")";
        if (!Double.isFinite(c)) {
            throw new InvalidInputException("--coefficient must be a finite number, got " + c);
        }
        if (report != null) Outputs.check("--report", report, REPORT_KIND, Outputs.model(modelOptions));
        List<Map<String, Object>> prompts = new ArrayList<>();
        Sweep.Outcome outcome;
        try (model; SteeringSession session = SteeringSession.open(model)) {
            if (!HookedModel.isHookable(model, at)) {
                throw new InvalidInputException("--module " + at + ": no such hookable module (see `steer4j modules`)");
            }
            VectorSet love = ActAdd.vector(session.hooks(), positive, negative, List.of(at), Reduce.LAST, ActAdd.DEFAULT_PAD, true);
            float[] v = love.data(at);
            List<List<Map<String, Object>>> runs = new ArrayList<>();
            for (String p : PROMPTS) runs.add(new ArrayList<>());
            record(session, runs, "unsteered", 0);
            Edit steer = session.add(at, v, c);
            record(session, runs, label(c) + pair, c);
            steer.setCoefficient(-c); // an in-place update: the same rewritten graph runs again
            record(session, runs, label(-c) + pair, -c);
            steer.remove();
            outcome = measure(session, runs, at, v, c);
            for (List<Map<String, Object>> l : runs) for (Map<String, Object> r : l) r.remove("result");
            for (int i = 0; i < PROMPTS.size(); i++) {
                Map<String, Object> p = new LinkedHashMap<>();
                p.put("prompt", PROMPTS.get(i));
                p.put("runs", runs.get(i));
                prompts.add(p);
            }
        }
        if (report != null && outcome != null) {
            SweepFiles.writeReport(report, outcome, model.tokenizer(), "steer4j demo: " + at + ", " + positive.strip() + " - "
                    + negative.strip());
            main.err().println("wrote " + report);
        } else if (report != null) {
            main.err().println("demo: no report: measuring needs a steer4j program and a nonzero coefficient");
        }
        if (json) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("module", at);
            out.put("coefficient", c);
            out.put("positive", positive);
            out.put("negative", negative);
            out.put("prompt", PROMPTS.get(0)); // the seed prompt's runs, as before more prompts were added
            out.put("runs", prompts.get(0).get("runs"));
            out.put("prompts", prompts);
            Json.print(main.out(), out);
            return 0;
        }
        main.out().printf("Steering at %s with the unit %s - %s vector (last token), greedy, %d tokens:%n",
                at, Json.write(positive), Json.write(negative), NEW_TOKENS);
        if (builtIn) {
            main.out().println("(the small built-in model, trained on the Brown Corpus and WordNet's glosses and examples;"
                    + " pass --model for GPT-2)");
        }
        for (Map<String, Object> p : prompts) {
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> runs = (List<Map<String, Object>>) p.get("runs");
            for (Map<String, Object> r : runs) {
                main.out().printf("  %-18s %s%n", r.get("label"), Json.write(p.get("prompt") + (String) r.get("text")));
                if (r.get("measured") instanceof String line) main.out().printf("  %-18s %s%n", "", line);
            }
        }
        return 0;
    }

    /**
     * Measures every run (docs/METRICS.md), in the same process, on the same continuations: each run's love- and
     * hate-word probability against its prompt's unsteered run, and the fluency cost (perplexity under the
     * unsteered model). Adds a "measured" line and values to each run; null when the model cannot be measured.
     */
    private static Sweep.Outcome measure(SteeringSession session, List<List<Map<String, Object>>> runs, String at,
                                         float[] v, double c) {
        if (session.model().kind() != Gpt2Model.Kind.STEER4J || c == 0) return null;
        ConceptWords love = ConceptWords.oneTokenWords(LOVE_WORDS.stream().map(w -> " " + w).toList(), session.model().tokenizer());
        ConceptWords hate = ConceptWords.oneTokenWords(HATE_WORDS.stream().map(w -> " " + w).toList(), session.model().tokenizer());
        SweepPlan plan = new SweepPlan(List.of(at), Map.of(at, v), new double[]{-c, c}, PROMPTS, 1, null, 1.0, NEW_TOKENS);
        List<Request> requests = new ArrayList<>();
        List<Result> results = new ArrayList<>();
        long tokens = 0;
        for (double k : plan.coefficients()) {
            for (int i = 0; i < PROMPTS.size(); i++) {
                Map<String, Object> r = runOf(runs.get(i), k);
                List<Steer> steer = k == 0 ? List.of() : List.of(new Steer(at, v, k));
                requests.add(new Request(i + "@" + k, PROMPTS.get(i), steer, NEW_TOKENS, Sampling.GREEDY));
                Result res = (Result) r.get("result");
                results.add(res);
                tokens += res.newIds().length;
            }
        }
        Sweep.Outcome o = Sweep.measure(session, plan, requests, results, love, hate, results.size(), tokens, 0, Map.of());
        for (SweepCell cell : o.cells()) {
            Map<String, Object> r = runOf(runs.get(cell.prompt()), cell.coefficient());
            CellMetrics m = cell.metrics();
            CellMetrics base = o.of(at, 0).get(cell.prompt()).metrics();
            Map<String, Object> measured = new LinkedHashMap<>();
            measured.put("love_words", m.concept());
            measured.put("hate_words", m.opposite());
            measured.put("perplexity", m.perplexity());
            measured.put("kl", m.kl());
            measured.put("projection", m.projection());
            measured.put("distinct2", m.distinct2());
            measured.put("love_vs_unsteered", m.concept() / base.concept());
            measured.put("hate_vs_unsteered", m.opposite() / base.opposite());
            measured.put("perplexity_vs_unsteered", m.perplexity() / base.perplexity());
            r.put("measured", cell.coefficient() == 0
                    ? String.format(Locale.ROOT, "love words %.4f, hate words %.4f; perplexity %.1f", m.concept(), m.opposite(), m.perplexity())
                    : String.format(Locale.ROOT, "love words ×%.2f, hate words ×%.2f; perplexity %.1f (×%.2f), KL %.3f nats",
                    m.concept() / base.concept(), m.opposite() / base.opposite(), m.perplexity(), m.perplexity() / base.perplexity(), m.kl()));
            r.put("metrics", measured);
        }
        return o;
    }

    private static Map<String, Object> runOf(List<Map<String, Object>> runs, double c) {
        for (Map<String, Object> r : runs) if ((double) r.get("coefficient") == c) return r;
        throw new IllegalStateException("no run at " + c);
    }

    /** What --report may replace: an earlier report of a sweep or demo. */
    static final dev.steer4j.io.OutputFiles.Kind REPORT_KIND = new dev.steer4j.io.OutputFiles.Kind() {
        @Override public String description() { return "a steer4j report (HTML)"; }

        @Override public boolean matches(Path file) throws java.io.IOException {
            try (var in = java.nio.file.Files.newBufferedReader(file, java.nio.charset.StandardCharsets.UTF_8)) {
                char[] head = new char[400];
                int n = in.read(head);
                return n > 0 && new String(head, 0, n).contains("<title>steer4j ");
            } catch (java.nio.charset.CharacterCodingException e) {
                return false;
            }
        }
    };

    private static String label(double c) {
        return (c > 0 ? "+" : "") + Json.write(c).replaceAll("\\.0$", "");
    }

    /** Each prompt greedily under the current steering, run alone (as `generate --prompt` runs it). */
    private static void record(SteeringSession session, List<List<Map<String, Object>>> runs, String label, double c) {
        for (int i = 0; i < PROMPTS.size(); i++) {
            Result out = session.generate(List.of(PROMPTS.get(i)), NEW_TOKENS, Sampling.GREEDY).get(0);
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("label", label);
            r.put("coefficient", c);
            r.put("new_ids", out.newIds());
            r.put("text", out.text());
            r.put("result", out); // for measuring; not printed
            runs.get(i).add(r);
        }
    }
}
