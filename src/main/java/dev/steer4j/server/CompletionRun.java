package dev.steer4j.server;

import dev.steer4j.Completion;
import dev.steer4j.Engine;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The choices of one completion request on the engine, as a queue of events that the HTTP thread takes: text as
 * it is generated (stop strings held back and cut), then each choice's end. The engine's thread only adds to an
 * unbounded queue, so it never waits for a client; the HTTP thread alone writes to the socket.
 */
final class CompletionRun {
    sealed interface Event permits Text, Done, Failed {
        int index();
    }

    record Text(int index, String text) implements Event {}

    /** A finished choice: its text (stop string cut), its result and OpenAI's finish reason. */
    record Done(int index, String text, Result result, String finishReason) implements Event {}

    record Failed(int index, Throwable error) implements Event {}

    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final List<Completion> completions = new ArrayList<>();

    /**
     * Submits every request; if one is refused (a full queue, a closing engine) those already submitted are
     * cancelled and the refusal is thrown.
     */
    CompletionRun(Engine engine, List<Request> requests, List<String> stops) {
        try {
            for (int i = 0; i < requests.size(); i++) {
                int index = i;
                StopMatcher stop = new StopMatcher(stops);
                Completion c = engine.submit(requests.get(i), delta -> {
                    String out = stop.accept(delta);
                    if (!out.isEmpty()) events.add(new Text(index, out));
                    return !stop.stopped();
                });
                completions.add(c);
                c.result().whenComplete((result, error) -> {
                    if (error != null) {
                        events.add(new Failed(index, error instanceof CompletionException && error.getCause() != null ? error.getCause() : error));
                        return;
                    }
                    String tail = stop.flush();
                    if (!tail.isEmpty()) events.add(new Text(index, tail));
                    String reason = stop.stopped() || result.finishReason() != Result.FinishReason.LENGTH ? "stop" : "length";
                    events.add(new Done(index, stop.text(), result, reason));
                });
            }
        } catch (RuntimeException e) {
            cancel();
            throw e;
        }
    }

    int size() {
        return completions.size();
    }

    /** The next event, or null after {@code millis} without one. */
    Event next(long millis) throws InterruptedException {
        return events.poll(millis, TimeUnit.MILLISECONDS);
    }

    /** Gives every choice up: each frees its slot before the engine's next step. */
    void cancel() {
        for (Completion c : completions) c.cancel();
    }
}
