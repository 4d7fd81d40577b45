package dev.steer4j.engine;

import dev.steer4j.generate.Generator;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.profile.Profiler;
import dev.steer4j.request.Request;
import dev.steer4j.request.Steer;

/** The one check of a request against a model, before any work: what the engine, sessions and jobs all use. */
public final class RequestCheck {
    private RequestCheck() {}

    /**
     * The prompt's ids, once it is known to fit the context with its token limit and each steering entry to
     * suit the model (module, width, coefficient, aligned length); an InvalidInputException otherwise.
     */
    public static int[] promptIds(Gpt2Model model, RowSteering steering, Request r) {
        int[] ids;
        try (Profiler.Span span = Profiler.span("tokenize")) {
            ids = Generator.encode(model, r.prompt(), r.maxNewTokens());
        }
        for (Steer s : r.steer()) steering.check(s, ids.length);
        return ids;
    }
}
