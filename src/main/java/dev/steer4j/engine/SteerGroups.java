package dev.steer4j.engine;

import dev.steer4j.request.Steer;
import dev.steer4j.request.Positions;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How one request's steering entries map onto per-row hooks: by (module, positions, index), the index
 * counting that request's entries of the same module and positions. Each key is one per-row hook, so a
 * request with two vectors on one module at the same positions uses two hooks, each added on its own.
 */
public final class SteerGroups {
    public record Key(String module, Positions positions, int index) {}

    private SteerGroups() {}

    /** Each entry under its key, in the order given. */
    public static Map<Key, Steer> of(List<Steer> entries) {
        Map<Key, Steer> out = new LinkedHashMap<>();
        Map<String, Integer> counts = new HashMap<>();
        for (Steer s : entries) {
            int index = counts.merge(s.module() + "@" + s.positions(), 1, Integer::sum) - 1;
            out.put(new Key(s.module(), s.positions(), index), s);
        }
        return out;
    }
}
