package dev.steer4j.metrics;

import dev.steer4j.InvalidInputException;
import dev.steer4j.io.IoErrors;
import dev.steer4j.tokenizer.GPT2Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A list of words whose next-token probability a concept score sums. Each word counts as it stands in running
 * text, after a space (" love", one token in GPT-2's vocabulary), so each must be one token that way: a word
 * of several tokens has no single next-token probability, and counting its first piece would count others.
 *
 * @param words the words as given
 * @param ids their tokens, one each, without repeats
 */
public record ConceptWords(List<String> words, int[] ids) {
    public static final ConceptWords NONE = new ConceptWords(List.of(), new int[0]);

    /** One word per line; blank lines and lines starting with {@code #} are skipped. */
    public static ConceptWords read(Path file, GPT2Tokenizer tokenizer, String flag) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new InvalidInputException(flag + " " + file + ": " + IoErrors.reason(e), e);
        }
        List<String> words = listed(lines);
        if (words.isEmpty()) throw new InvalidInputException(flag + " " + file + " lists no words");
        return of(words, tokenizer, flag + " " + file);
    }

    /** The entries of a list file's lines: each stripped; blank lines and lines starting with {@code #} skipped. */
    public static List<String> listed(List<String> lines) {
        List<String> entries = new ArrayList<>();
        for (String l : lines) {
            String w = l.strip();
            if (!w.isEmpty() && !w.startsWith("#")) entries.add(w);
        }
        return entries;
    }

    /** {@code words} (each taken after a space), checked to be one token each; {@code source} names them in errors. */
    public static ConceptWords of(List<String> words, GPT2Tokenizer tokenizer, String source) {
        Set<Integer> ids = new LinkedHashSet<>();
        for (String w : words) {
            int[] t = tokenizer.encode(" " + w.strip());
            if (t.length != 1) {
                throw new InvalidInputException(source + ": \"" + w.strip() + "\" is " + t.length
                        + " tokens after a space; list words that are one token each");
            }
            ids.add(t[0]);
        }
        return new ConceptWords(List.copyOf(words), ids.stream().mapToInt(Integer::intValue).toArray());
    }

    /** Those of {@code words} (taken as they are, spaces kept) that are one token: fixed lists used on any tokenizer. */
    public static ConceptWords oneTokenWords(List<String> words, GPT2Tokenizer tokenizer) {
        List<String> kept = new ArrayList<>();
        Set<Integer> ids = new LinkedHashSet<>();
        for (String w : words) {
            int[] t = tokenizer.encode(w);
            if (t.length == 1) {
                kept.add(w);
                ids.add(t[0]);
            }
        }
        return new ConceptWords(List.copyOf(kept), ids.stream().mapToInt(Integer::intValue).toArray());
    }

    public boolean isEmpty() {
        return ids.length == 0;
    }
}
