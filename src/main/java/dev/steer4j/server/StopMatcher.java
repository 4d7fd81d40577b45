package dev.steer4j.server;

import java.util.List;

/**
 * OpenAI's {@code stop} over text that arrives in pieces: text is let through as soon as no stop string can
 * begin in it, so a stop string split across tokens is never half-sent; once one is complete, the text before it
 * is the end. One per choice, used on one thread at a time.
 */
final class StopMatcher {
    private final List<String> stops;
    private final StringBuilder held = new StringBuilder();
    private final StringBuilder emitted = new StringBuilder();
    private boolean stopped;

    StopMatcher(List<String> stops) {
        this.stops = stops;
    }

    /** Takes the next piece of text; returns what may be sent now (possibly empty). */
    String accept(String delta) {
        if (stopped) return "";
        held.append(delta);
        int cut = -1;
        for (String s : stops) {
            int at = held.indexOf(s);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        String out;
        if (cut >= 0) {
            stopped = true;
            out = held.substring(0, cut);
            held.setLength(0);
        } else {
            int keep = 0; // the longest tail of what is held that a stop string begins with
            String h = held.toString();
            for (String s : stops) {
                for (int k = Math.min(s.length() - 1, h.length()); k > keep; k--) {
                    if (h.regionMatches(h.length() - k, s, 0, k)) {
                        keep = k;
                        break;
                    }
                }
            }
            out = held.substring(0, held.length() - keep);
            held.delete(0, held.length() - keep);
        }
        emitted.append(out);
        return out;
    }

    /** Whether a stop string was written. */
    boolean stopped() {
        return stopped;
    }

    /** At the end of generation: what was held back (no stop string came after all). */
    String flush() {
        String out = stopped ? "" : held.toString();
        held.setLength(0);
        emitted.append(out);
        return out;
    }

    /** All the text let through so far. */
    String text() {
        return emitted.toString();
    }
}
