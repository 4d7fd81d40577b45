package dev.steer4j.metrics;

import java.util.HashSet;
import java.util.Set;

/** distinct-n (Li et al., 2016) over token ids: how much of a text does not repeat itself. */
public final class Repetition {
    private Repetition() {}

    /**
     * Distinct bigrams over all bigrams of {@code ids}, in [0, 1]: 1 when no pair of adjacent tokens repeats,
     * near 0 for a loop of one word. A text of fewer than two tokens has no bigram to repeat: 1.
     */
    public static double distinct2(int[] ids) {
        if (ids.length < 2) return 1;
        Set<Long> seen = new HashSet<>();
        for (int i = 1; i < ids.length; i++) seen.add(((long) ids[i - 1] << 32) | (ids[i] & 0xffffffffL));
        return seen.size() / (double) (ids.length - 1);
    }
}
