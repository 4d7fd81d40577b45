package dev.steer4j.langchain4j;

import dev.steer4j.request.Request;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Steer;
import java.util.List;

/**
 * What a provider's calls share: its engine, whether it owns it (a view made by {@code withSteering} does not),
 * and the defaults each call's request starts from.
 */
record CallDefaults(EngineHolder holder, boolean owner, List<Steer> steer, int maxNewTokens, Sampling sampling) {
    CallDefaults {
        steer = List.copyOf(steer);
    }

    Request request(String prompt, List<Steer> steering) {
        return Calls.request(prompt, steering, maxNewTokens, sampling);
    }

    /** The same engine and defaults with other default steering, not owning the engine. */
    CallDefaults view(List<Steer> steering) {
        return new CallDefaults(holder, false, steering, maxNewTokens, sampling);
    }

    void close() {
        if (owner) holder.close();
    }
}
