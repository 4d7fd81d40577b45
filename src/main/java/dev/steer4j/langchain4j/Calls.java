package dev.steer4j.langchain4j;

import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Steer;
import java.util.List;
import java.util.Map;

/** One call as a steer4j request, and its result as langchain4j's {@link Response}. */
final class Calls {
    private Calls() {}

    static Request request(String prompt, List<Steer> steer, int maxNewTokens, Sampling sampling) {
        Request.Builder b = Request.prompt(prompt).maxNewTokens(maxNewTokens).steer(steer);
        if (!sampling.greedy()) b.sample(sampling.temperature(), sampling.seed()).topP(sampling.topP());
        return b.build();
    }

    /**
     * As langchain4j's own providers map OpenAI's: end of text or a stop is {@code STOP}, the token limit is
     * {@code LENGTH}; usage counts the prompt's and the generated tokens.
     */
    static Response<String> response(Result r) {
        FinishReason reason = r.finishReason() == Result.FinishReason.LENGTH ? FinishReason.LENGTH : FinishReason.STOP;
        TokenUsage usage = new TokenUsage(r.ids().length, r.newIds().length, r.ids().length + r.newIds().length);
        return Response.from(r.text(), usage, reason, Map.of());
    }
}
