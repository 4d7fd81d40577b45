package dev.steer4j.langchain4j;

import dev.langchain4j.model.language.LanguageModel;
import dev.langchain4j.model.output.Response;
import dev.steer4j.request.Steer;
import java.util.List;
import java.util.concurrent.CompletionException;

/**
 * langchain4j's {@link LanguageModel} on a steer4j engine, in process: calls from any number of threads share one
 * continuous batch, each with its own steering. {@link #withSteering} gives a view with other steering over the
 * same engine; closing the built model closes them all.
 *
 * <pre>{@code
 * try (Steer4jLanguageModel lm = Steer4jLanguageModel.builder().modelPath(Path.of("gpt2.pt"))
 *         .maxNewTokens(20).steer(love.times(10)).build()) {
 *     Response<String> r = lm.generate("I think dogs are ");
 *     Response<String> opposite = lm.withSteering(love.times(-10)).generate("I think dogs are ");
 * }
 * }</pre>
 */
public final class Steer4jLanguageModel implements LanguageModel, AutoCloseable {
    private final CallDefaults calls;

    private Steer4jLanguageModel(CallDefaults calls) {
        this.calls = calls;
    }

    /** A builder: {@code modelPath} or {@code model} is required. */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link Steer4jLanguageModel}s. */
    public static final class Builder extends Steer4jBuilder<Builder, Steer4jLanguageModel> {
        private Builder() {}

        @Override
        public Steer4jLanguageModel build() {
            return new Steer4jLanguageModel(new CallDefaults(holder(), true, steer, maxNewTokens, sampling()));
        }
    }

    @Override
    public Response<String> generate(String prompt) {
        return generate(prompt, calls.steer());
    }

    /** One call with its own steering ({@code List.of()}: unsteered). */
    public Response<String> generate(String prompt, List<Steer> steering) {
        try {
            return Calls.response(calls.holder().engine.submit(calls.request(prompt, steering)).result().join());
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
    }

    /** The same engine and defaults with other default steering; closing the view does nothing. */
    public Steer4jLanguageModel withSteering(List<Steer> steering) {
        return new Steer4jLanguageModel(calls.view(steering));
    }

    /** Stops the engine (and closes the model if it was loaded from a path); views stop with it. */
    @Override
    public void close() {
        calls.close();
    }
}
