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
 * The seed experiment end to end: the "Love" − "Hate" vector (last token, unit norm) at the output of one
 * block, added with +c and −c at every position of every forward pass, against no steering: greedy, 10 tokens
 * after "I think dogs are " and two more prompts. On a user's model the seed's settings (block 5, or the last
 * block of a smaller model; c = 10); on the built-in model the block and coefficient its sweep chose
 * (docs/DEFAULT_MODEL.md).
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run the Love/Hate steering experiment (unsteered, +c, -c) side by side.")
final class DemoCommand implements Callable<Integer> {
    static final List<String> PROMPTS = List.of("I think dogs are ", "My brother is", "The people said,");
    static final int NEW_TOKENS = 10;
    static final double SEED_COEFFICIENT = 10;
    /**
     * The built-in model's demo settings, from the sweep in docs/DEFAULT_MODEL.md: the words as running text
     * has them (" love", " hate": one token each; "Hate" is two), at the block and coefficient that steer
     * visibly while every continuation stays real words.
     */
    static final String BUILT_IN_POSITIVE = " love";
    static final String BUILT_IN_NEGATIVE = " hate";
    static final String BUILT_IN_MODULE = "transformer.h.2";
    static final double BUILT_IN_COEFFICIENT = 20;

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

    @Override
    public Integer call() {
        Gpt2Model model = modelOptions.load();
        boolean builtIn = modelOptions.model == null;
        String at = module != null ? module
                : builtIn ? BUILT_IN_MODULE : "transformer.h." + Math.min(5, model.layers() - 1);
        double c = coefficient != null ? coefficient : builtIn ? BUILT_IN_COEFFICIENT : SEED_COEFFICIENT;
        String positive = builtIn ? BUILT_IN_POSITIVE : "Love";
        String negative = builtIn ? BUILT_IN_NEGATIVE : "Hate";
        String pair = " (" + positive.strip() + " - " + negative.strip() + ")";
        if (!Double.isFinite(c)) {
            throw new InvalidInputException("--coefficient must be a finite number, got " + c);
        }
        List<Map<String, Object>> prompts = new ArrayList<>();
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
            for (int i = 0; i < PROMPTS.size(); i++) {
                Map<String, Object> p = new LinkedHashMap<>();
                p.put("prompt", PROMPTS.get(i));
                p.put("runs", runs.get(i));
                prompts.add(p);
            }
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
            main.out().println("(the small built-in model, trained on the King James Bible and The Devil's Dictionary;"
                    + " pass --model for GPT-2)");
        }
        for (Map<String, Object> p : prompts) {
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> runs = (List<Map<String, Object>>) p.get("runs");
            for (Map<String, Object> r : runs) {
                main.out().printf("  %-18s %s%n", r.get("label"), Json.write(p.get("prompt") + (String) r.get("text")));
            }
        }
        return 0;
    }

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
            runs.get(i).add(r);
        }
    }
}
