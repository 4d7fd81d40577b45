package dev.steer4j.cli;

import dev.steer4j.generate.Generator;
import dev.steer4j.generate.Sampling;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.hooks.Positions;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
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
 * The seed experiment end to end: the "Love" − "Hate" vector (last token, unit norm) at the output of
 * {@code transformer.h.5} (the last block of a smaller model), added with +10 and −10 at every position of
 * every forward pass, against no steering: greedy, 10 tokens after "I think dogs are ".
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run the Love/Hate steering experiment (unsteered, +10, -10) side by side.")
final class DemoCommand implements Callable<Integer> {
    static final String PROMPT = "I think dogs are ";

    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--json", description = "print one JSON object")
    boolean json;

    @Override
    public Integer call() {
        Gpt2Model model = modelOptions.load();
        String module = "transformer.h." + Math.min(5, model.layers() - 1);
        List<Map<String, Object>> runs = new ArrayList<>();
        try (HookedModel hm = new HookedModel(model)) {
            VectorSet love = ActAdd.vector(hm, "Love", "Hate", List.of(module), Reduce.LAST, ActAdd.DEFAULT_PAD, true);
            float[] v = love.data(module);
            runs.add(run(hm, "unsteered", 0));
            try (HookHandle steer = hm.hookOutput(module, new HookOp.Add(
                    Tensors.floats(v, new long[]{v.length}, model.device(), model.dtype()), 10, Positions.ALL, false))) {
                runs.add(run(hm, "+10 (Love - Hate)", 10));
                steer.setCoefficient(-10); // an in-place update: the same rewritten graph runs again
                runs.add(run(hm, "-10 (Love - Hate)", -10));
            }
        }
        if (json) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("module", module);
            out.put("prompt", PROMPT);
            out.put("runs", runs);
            Json.print(main.out(), out);
            return 0;
        }
        main.out().printf("Steering at %s with the unit \"Love\" - \"Hate\" vector (last token), greedy, 10 tokens:%n",
                module);
        if (modelOptions.model == null) {
            main.out().println("(built-in tiny model with RANDOM weights: its text is gibberish; pass --model for real text)");
        }
        for (Map<String, Object> r : runs) {
            main.out().printf("  %-18s %s%n", r.get("label"), Json.write(PROMPT + r.get("text")));
        }
        return 0;
    }

    private Map<String, Object> run(HookedModel hm, String label, double coefficient) {
        Generator g = hm.generator();
        int[][] ids = g.encode(List.of(PROMPT), 10);
        int[] out = g.generateIds(ids, 10, Sampling.GREEDY, null)[0];
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("label", label);
        r.put("coefficient", coefficient);
        r.put("new_ids", out);
        r.put("text", hm.model().tokenizer().decode(out));
        return r;
    }
}
