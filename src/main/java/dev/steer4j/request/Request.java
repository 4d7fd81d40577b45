package dev.steer4j.request;

import dev.steer4j.generate.Sampling;
import java.util.List;

/**
 * One prompt with its own steering, token limit and sampling. In a batch of requests each row reads only its
 * own steering, so its result equals the request run alone.
 */
public record Request(String id, String prompt, List<Steer> steer, int maxNewTokens, Sampling sampling) {
    public Request {
        steer = List.copyOf(steer);
        if (prompt == null || sampling == null) throw new NullPointerException("prompt and sampling are required");
    }

    /** Greedy, unsteered. */
    public static Request of(String id, String prompt, int maxNewTokens) {
        return new Request(id, prompt, List.of(), maxNewTokens, Sampling.GREEDY);
    }
}
