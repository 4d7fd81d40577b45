package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.io.OutputFiles;
import dev.steer4j.io.OutputFiles.Named;
import dev.steer4j.steering.SteerSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The CLI's side of {@link OutputFiles}: a command's inputs named by the flags that give them, checked against
 * its output before any work, so that the one-line message names both flags. The rule itself is OutputFiles'.
 * Files named inside an input (a request line's vector files) are not listed: the kind rule covers them, since
 * none of them is of an output's kind.
 */
final class Outputs {
    private Outputs() {}

    /** {@code flag out}, when given, against every input; an existing one must be of {@code kind}. */
    @SafeVarargs
    static void check(String flag, Path out, OutputFiles.Kind kind, List<Named>... inputs) {
        if (out == null) return;
        List<Named> all = new ArrayList<>();
        for (List<Named> l : inputs) all.addAll(l);
        OutputFiles.check(new Named(flag, out), kind, all);
    }

    /** One file flag (none when not given). */
    static List<Named> file(String flag, Path file) {
        return file == null ? List.of() : List.of(new Named(flag, file));
    }

    /** {@code --model FILE} and the two files of {@code --tokenizer DIR}. */
    static List<Named> model(ModelOptions m) {
        List<Named> l = new ArrayList<>(file("--model", m.model));
        if (m.tokenizer != null) {
            l.add(new Named("--tokenizer", m.tokenizer.resolve("vocab.json")));
            l.add(new Named("--tokenizer", m.tokenizer.resolve("merges.txt")));
        }
        return l;
    }

    /** The vector file of each {@code flag FILE[*COEF][@POSITIONS]}; a malformed spec is left to the command to word. */
    static List<Named> steer(String flag, List<String> specs) {
        List<Named> l = new ArrayList<>();
        for (String s : specs) {
            try {
                l.add(new Named(flag, SteerSpec.parse(s).file()));
            } catch (InvalidInputException e) {
                // reported where the spec is used
            }
        }
        return l;
    }

    /** What {@code convert} reads from {@code --hf DIR}: config, tokenizer, and every safetensors file and index. */
    static List<Named> checkpoint(Path dir) {
        List<Named> l = new ArrayList<>();
        for (String name : new String[]{"config.json", "vocab.json", "merges.txt", "model.safetensors.index.json"}) {
            l.add(new Named("--hf", dir.resolve(name)));
        }
        if (Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.list(dir)) {
                files.filter(p -> p.getFileName().toString().endsWith(".safetensors")).forEach(p -> l.add(new Named("--hf", p)));
            } catch (IOException e) {
                // unreadable: convert says why when it opens the folder
            }
        }
        return l;
    }
}
