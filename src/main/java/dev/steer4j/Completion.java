package dev.steer4j;

import dev.steer4j.request.Result;
import java.util.concurrent.CompletableFuture;

/**
 * A request submitted to an {@link Engine}: its result to come, and a way to give it up. The result fails with
 * an {@link InvalidInputException} when the request cannot run (the message says why), and with an
 * IllegalStateException when the engine or its model closed first.
 */
public final class Completion {
    private final CompletableFuture<Result> result = new CompletableFuture<>();
    private volatile boolean cancelled;

    Completion() {}

    /**
     * The result, once the request has finished.
     *
     * @return a future of it (cancelling the future cancels the request)
     */
    public CompletableFuture<Result> result() {
        return result;
    }

    /**
     * Gives the request up: queued, it never runs; running, its slot is freed before the engine's next step.
     * Its result fails with a {@link java.util.concurrent.CancellationException}.
     */
    public void cancel() {
        cancelled = true;
        result.cancel(false);
    }

    /**
     * Whether it was cancelled.
     *
     * @return true after {@link #cancel()} or the future's cancellation
     */
    public boolean isCancelled() {
        return cancelled || result.isCancelled();
    }
}
