package dev.steer4j.langchain4j;

import dev.langchain4j.model.StreamingResponseHandler;
import dev.langchain4j.model.language.StreamingLanguageModel;
import dev.steer4j.request.Result;
import dev.steer4j.request.Steer;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * langchain4j's {@link StreamingLanguageModel} on a steer4j engine, in process: each piece of text goes to
 * {@code onNext} as it is generated, then {@code onComplete} with usage and finish reason (or {@code onError}).
 * The handler runs on a delivery thread of its own, in order, never on the engine's thread, so a slow handler
 * slows only its own call.
 */
public final class Steer4jStreamingLanguageModel implements StreamingLanguageModel, AutoCloseable {
    private final CallDefaults calls;

    private Steer4jStreamingLanguageModel(CallDefaults calls) {
        this.calls = calls;
    }

    /** A builder: {@code modelPath} or {@code model} is required. */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link Steer4jStreamingLanguageModel}s. */
    public static final class Builder extends Steer4jBuilder<Builder, Steer4jStreamingLanguageModel> {
        private Builder() {}

        @Override
        public Steer4jStreamingLanguageModel build() {
            return new Steer4jStreamingLanguageModel(new CallDefaults(holder(), true, steer, maxNewTokens, sampling()));
        }
    }

    @Override
    public void generate(String prompt, StreamingResponseHandler<String> handler) {
        generate(prompt, calls.steer(), handler);
    }

    /** One call with its own steering ({@code List.of()}: unsteered). */
    public void generate(String prompt, List<Steer> steering, StreamingResponseHandler<String> handler) {
        BlockingQueue<Object> events = new LinkedBlockingQueue<>(); // String pieces, then a Result or a Throwable
        try {
            calls.holder().engine.submit(calls.request(prompt, steering), events::add).result()
                    .whenComplete((r, e) -> events.add(e != null ? unwrap(e) : r));
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        calls.holder().delivery.execute(() -> {
            try {
                while (true) {
                    Object e = events.take();
                    if (e instanceof String text) {
                        handler.onNext(text);
                    } else if (e instanceof Result r) {
                        handler.onComplete(Calls.response(r));
                        return;
                    } else {
                        handler.onError((Throwable) e);
                        return;
                    }
                }
            } catch (InterruptedException stopped) {
                handler.onError(new IllegalStateException("the model was closed"));
            }
        });
    }

    /** The same engine and defaults with other default steering; closing the view does nothing. */
    public Steer4jStreamingLanguageModel withSteering(List<Steer> steering) {
        return new Steer4jStreamingLanguageModel(calls.view(steering));
    }

    /** Stops the engine (and closes the model if it was loaded from a path); views stop with it. */
    @Override
    public void close() {
        calls.close();
    }

    private static Throwable unwrap(Throwable e) {
        return e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    }
}
