package dev.steer4j.cli;

import dev.steer4j.metrics.ConceptWords;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The demo's word lists and prompts, fixed before the built-in model was trained and shipped beside it
 * ({@code src/main/resources/steer4j/demo}; docs/DEFAULT_MODEL.md says where each comes from). Prompts keep
 * their spaces; in both files blank lines and {@code #} lines are comments.
 */
final class DemoLists {
    private DemoLists() {}

    /** Love/affection words (AFINN-165 positive, under WordNet's love and affection), one token after a space. */
    static List<String> loveWords() {
        return ConceptWords.listed(lines("love-words.txt"));
    }

    /** Hate/anger words (AFINN-165 negative, under WordNet's hate and anger), one token after a space. */
    static List<String> hateWords() {
        return ConceptWords.listed(lines("hate-words.txt"));
    }

    /** All sixteen prompts: even indices chose the block and coefficient, odd ones are held out. */
    static List<String> prompts() {
        return SweepCommand.promptLines(lines("prompts.txt")); // a sweep's prompts file: the effect check sweeps it
    }

    private static List<String> lines(String name) {
        try (InputStream in = DemoLists.class.getResourceAsStream("/steer4j/demo/" + name)) {
            if (in == null) throw new IllegalStateException("steer4j/demo/" + name + " is missing from the jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
