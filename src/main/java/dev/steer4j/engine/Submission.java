package dev.steer4j.engine;

import dev.steer4j.request.Request;
import dev.steer4j.request.Result;

/**
 * One request handed to a {@link BatchEngine}, and where its outcome goes. The engine calls these on its own
 * thread, between steps; they must not block.
 */
public interface Submission {
    Request request();

    /** Which sampling stream of its seed it draws (0: as if it ran alone). */
    default int stream() {
        return 0;
    }

    /** Told each new token as it is chosen; returning false ends the request there (finish reason STOP). */
    default boolean token(int id) {
        return true;
    }

    /** True once its caller no longer wants it: the engine frees its slot before the next step. */
    default boolean cancelled() {
        return false;
    }

    void completed(Result result);

    /** It could not run (bad steering, a prompt that does not fit, NaN logits); {@code message} says why. */
    void failed(String message);

    /** Where an engine's requests come from. */
    interface Source {
        /** The next request to admit now, or null when none is waiting (the run ends once no slot is busy). */
        Submission poll();
    }
}
