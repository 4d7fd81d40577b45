package dev.steer4j.cli;

import dev.steer4j.generate.Generator;
import dev.steer4j.hooks.Activation;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.steering.HookPoints;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** The output of one module (element 0 of a tuple) for one prompt, with any --steer applied. */
@Command(name = "activations", mixinStandardHelpOptions = true,
        description = "Print a module's output for a prompt ([T, d]).")
final class ActivationsCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    SteerOptions steerOptions;

    @Option(names = "--prompt", required = true, paramLabel = "P", description = "the prompt")
    String prompt;

    @Option(names = "--module", required = true, paramLabel = "NAME",
            description = "module path (transformer.h.5) or TransformerLens name (blocks.5.hook_resid_post)")
    String module;

    @Option(names = "--json", description = "print one JSON object")
    boolean json;

    @Override
    public Integer call() {
        Gpt2Model model = modelOptions.load();
        HookedModel hm = steerOptions.apply(model);
        int[] ids = new Generator(hm.model(), hm).encode(List.of(prompt), 0)[0];
        HookHandle tap = HookPoints.hook(hm, module, new HookOp.Store());
        new Generator(hm.model(), hm).lastLogits(new int[][]{ids});
        Activation a = tap.captured().get(0);
        int d = (int) a.shape()[a.shape().length - 1];
        float[][] rows = new float[ids.length][];
        for (int t = 0; t < ids.length; t++) rows[t] = a.at(0, t);
        if (json) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("module", module);
            out.put("ids", ids);
            out.put("shape", new int[]{ids.length, d});
            out.put("values", rows);
            Json.print(main.out(), out);
        } else {
            main.out().printf("%s: [%d, %d]%n", module, ids.length, d);
            for (int t = 0; t < ids.length; t++) {
                main.out().printf("  %3d %-12s %s%n", t, Json.write(model.tokenizer().decode(new int[]{ids[t]})),
                        preview(rows[t]));
            }
        }
        return 0;
    }

    private static String preview(float[] v) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < Math.min(6, v.length); i++) s.append(i > 0 ? ", " : "").append(String.format("%.5f", v[i]));
        return s.append(v.length > 6 ? ", …]" : "]").toString();
    }
}
