package dev.steer4j.cli;

import dev.steer4j.hooks.HookedModel;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.model.ModuleTree;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.JitModule;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** Lists the submodules that hooks and steering vectors can attach to. */
@Command(name = "modules", mixinStandardHelpOptions = true, description = "List the hookable submodules of a model.")
final class ModulesCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--json", description = "print one JSON object")
    boolean json;

    @Override
    public Integer call() {
        Gpt2Model model = modelOptions.load();
        List<Map<String, Object>> modules = new ArrayList<>();
        for (Map.Entry<String, JitModule> e : ModuleTree.modules(model.module()).entrySet()) {
            if (!HookedModel.isHookable(model, e.getKey())) continue;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", e.getKey());
            m.put("type", typeName(e.getValue()));
            modules.add(m);
        }
        if (json) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("kind", model.kind() == Gpt2Model.Kind.STEER4J ? "steer4j" : "foreign");
            out.put("width", model.width());
            out.put("layers", model.layers());
            out.put("modules", modules);
            Json.print(main.out(), out);
        } else {
            for (Map<String, Object> m : modules) main.out().printf("%-32s %s%n", m.get("name"), m.get("type"));
        }
        return 0;
    }

    /** {@code GPT2Block} from {@code __torch__.x.___torch_mangle_3.GPT2Block (of Python …)}. */
    private static String typeName(JitModule m) {
        String s = m.type().repr_str().getString();
        int space = s.indexOf(' ');
        if (space > 0) s = s.substring(0, space);
        boolean ours = s.startsWith("__torch__.steer4j.gpt2.");
        s = s.substring(s.lastIndexOf('.') + 1);
        // steer4j's classes are named Kind_where (one class per instance); show the kind
        return ours ? s.substring(0, s.indexOf('_') < 0 ? s.length() : s.indexOf('_')) : s;
    }
}
