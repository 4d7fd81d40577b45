package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.steering.VectorFiles;
import dev.steer4j.steering.VectorLens;
import dev.steer4j.steering.io.VectorSet;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** What steering vectors are: per module its norm and the tokens it promotes and suppresses, and how alike they are. */
@Command(name = "vector-info", mixinStandardHelpOptions = true,
        description = "Per vector (file × module): its norm, the tokens it promotes and suppresses most (the vector through"
                + " the final layer norm and the unembedding: a logit lens), and the cosine similarity of every pair.")
final class VectorInfoCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Parameters(arity = "1..*", paramLabel = "V.safetensors", description = "vector files (safetensors or .gguf)")
    List<Path> files;

    @Option(names = "--top", paramLabel = "K", defaultValue = "10", description = "tokens to list each way (default 10)")
    int top;

    @Option(names = "--json", description = "print one JSON object")
    boolean json;

    /** One vector: a module's entry of one file. */
    private record Named(String name, float[] values) {}

    @Override
    public Integer call() {
        if (top < 1) throw new InvalidInputException("--top must be >= 1, got " + top);
        List<Named> vectors = new ArrayList<>();
        for (Path f : files) {
            VectorSet set = VectorFiles.read(f);
            for (String module : set.names()) {
                vectors.add(new Named(files.size() > 1 ? f.getFileName() + ":" + module : module, set.data(module)));
            }
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        try (Gpt2Model model = modelOptions.load()) {
            for (Named v : vectors) {
                if (v.values().length != model.width()) {
                    throw new InvalidInputException(v.name() + ": width " + v.values().length + ", but the model's is " + model.width());
                }
                float[] logits = VectorLens.logits(model, v.values());
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("vector", v.name());
                row.put("norm", VectorLens.norm(v.values()));
                row.put("promotes", tokens(VectorLens.top(model, logits, top, true)));
                row.put("suppresses", tokens(VectorLens.top(model, logits, top, false)));
                rows.add(row);
            }
        }
        List<Map<String, Object>> pairs = new ArrayList<>();
        for (int i = 0; i < vectors.size(); i++) {
            for (int j = i + 1; j < vectors.size(); j++) {
                Map<String, Object> p = new LinkedHashMap<>();
                p.put("a", vectors.get(i).name());
                p.put("b", vectors.get(j).name());
                p.put("cosine", VectorLens.cosine(vectors.get(i).values(), vectors.get(j).values()));
                pairs.add(p);
            }
        }
        if (json) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("vectors", rows);
            out.put("cosine", pairs);
            Json.print(main.out(), out);
            return 0;
        }
        for (Map<String, Object> row : rows) {
            main.out().printf(Locale.ROOT, "%s  norm %.4f%n", row.get("vector"), (Double) row.get("norm"));
            main.out().println("  promotes:   " + words(row.get("promotes")));
            main.out().println("  suppresses: " + words(row.get("suppresses")));
        }
        for (Map<String, Object> p : pairs) {
            main.out().printf(Locale.ROOT, "cosine %s ~ %s: %.4f%n", p.get("a"), p.get("b"), (Double) p.get("cosine"));
        }
        return 0;
    }

    private static List<Map<String, Object>> tokens(List<VectorLens.Token> list) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (VectorLens.Token t : list) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", t.id());
            m.put("token", t.text());
            m.put("logit", t.logit());
            out.add(m);
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static String words(Object tokens) {
        StringBuilder s = new StringBuilder();
        for (Map<String, Object> t : (List<Map<String, Object>>) tokens) {
            if (s.length() > 0) s.append(", ");
            s.append(Json.write(t.get("token")));
        }
        return s.toString();
    }
}
