package dev.steer4j.cli;

import dev.steer4j.model.Gpt2Model;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** Text to GPT-2 token ids with the model's tokenizer. */
@Command(name = "tokenize", mixinStandardHelpOptions = true, description = "Show the token ids of texts.")
final class TokenizeCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--text", required = true, paramLabel = "T", description = "text to tokenize (repeatable)")
    List<String> texts;

    @Option(names = "--json", description = "print one JSON object")
    boolean json;

    @Override
    public Integer call() {
        Gpt2Model model = modelOptions.load();
        List<Map<String, Object>> results = new ArrayList<>();
        for (String text : texts) {
            int[] ids = model.tokenizer().encode(text);
            if (json) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("text", text);
                r.put("ids", ids);
                results.add(r);
            } else {
                main.out().println(Json.write(text) + " -> " + Arrays.toString(ids));
            }
        }
        if (json) {
            Json.print(main.out(), Map.of("results", results));
        }
        return 0;
    }
}
