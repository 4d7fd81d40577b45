package dev.steer4j;

import dev.steer4j.engine.BatchEngine;
import dev.steer4j.engine.Submission;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.tokenizer.GPT2Tokenizer;
import dev.steer4j.tokenizer.StreamingDecoder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Continuous batching that any number of threads feed: {@link #submit} queues a request and returns at once; one
 * engine thread runs up to {@code slots} requests together, and a queued request joins between decode steps, as
 * soon as a slot is free. Each request's steering, limits and sampling are its own, so its result equals its run
 * alone. Made by {@link Session#engine}; the session's edits apply to everything it runs, and while the engine
 * is open its thread is the session's user.
 *
 * <pre>{@code
 * try (Engine engine = session.engine(32, 256)) {
 *     Completion c = engine.submit(request, delta -> { System.out.print(delta); return true; });
 *     Result r = c.result().join();
 * }
 * }</pre>
 */
public final class Engine implements AutoCloseable {
    private static final long IDLE_POLL_MILLIS = 50;

    private final BatchEngine engine;
    private final GPT2Tokenizer tokenizer;
    private final BlockingQueue<Job> queue;
    private final Set<Job> unfinished = ConcurrentHashMap.newKeySet();
    private final Thread worker;
    private final AtomicLong steps = new AtomicLong();
    private volatile boolean accepting = true;
    private volatile boolean stopping;

    Engine(BatchEngine engine, GPT2Tokenizer tokenizer, int maxQueue) {
        this.engine = engine;
        this.tokenizer = tokenizer;
        this.queue = new ArrayBlockingQueue<>(maxQueue);
        this.worker = new Thread(this::work, "steer4j-engine");
        worker.setDaemon(true);
        worker.start();
    }

    /**
     * Queues {@code request}; its result comes through the returned completion.
     *
     * @param request the request
     * @return its completion
     * @throws NullPointerException if {@code request} is null
     * @throws QueueFullException if the queue holds its maximum already
     * @throws IllegalStateException if this engine was closed or is shutting down
     */
    public Completion submit(Request request) {
        return submit(request, null);
    }

    /**
     * Queues {@code request}, telling {@code listener} its text as it is generated.
     *
     * @param request the request
     * @param listener told each token's text on the engine's thread (null: none)
     * @return its completion
     * @throws NullPointerException if {@code request} is null
     * @throws QueueFullException if the queue holds its maximum already
     * @throws IllegalStateException if this engine was closed or is shutting down
     */
    public Completion submit(Request request, TextListener listener) {
        Objects.requireNonNull(request, "request");
        if (!accepting) throw new IllegalStateException("this engine was closed: it takes no new requests");
        Job job = new Job(request, listener);
        unfinished.add(job);
        if (!queue.offer(job)) {
            unfinished.remove(job);
            throw new QueueFullException("the engine's queue is full (" + (queue.size() + queue.remainingCapacity())
                    + " requests waiting): try again once some have finished");
        }
        return job.completion;
    }

    /**
     * Requests waiting for a slot.
     *
     * @return the queue's length now
     */
    public int queued() {
        return queue.size();
    }

    /**
     * Requests in a slot now.
     *
     * @return the running rows
     */
    public int running() {
        return Math.max(0, unfinished.size() - queue.size());
    }

    /**
     * The number of slots: how many requests run together at most.
     *
     * @return the slots
     */
    public int slots() {
        return engine.slots();
    }

    /**
     * The most tokens one step feeds the model (each running request's next one, then chunks of waiting prompts),
     * or 0 when prompts are prefilled apart, between steps.
     *
     * @return the token budget
     */
    public int tokenBudget() {
        return engine.tokenBudget();
    }

    /**
     * Forward passes run so far (prefills and decode steps).
     *
     * @return the count
     */
    public long steps() {
        return steps.get();
    }

    /**
     * Seconds spent in forward passes so far (prefills and decode steps), summed.
     *
     * @return the seconds
     */
    public double busySeconds() {
        return engine.counters().busySeconds();
    }

    /**
     * Stops taking requests, lets those queued and running finish for at most {@code grace}, then cancels the
     * rest and frees the engine's memory.
     *
     * @param grace how long to wait for unfinished requests
     * @return true if every request finished within it
     * @throws NullPointerException if {@code grace} is null
     */
    public boolean shutdown(Duration grace) {
        Objects.requireNonNull(grace, "grace");
        accepting = false;
        long deadline = System.nanoTime() + grace.toNanos();
        while (!unfinished.isEmpty() && System.nanoTime() < deadline && worker.isAlive()) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        boolean all = unfinished.isEmpty();
        for (Job job : new ArrayList<>(unfinished)) job.completion.cancel();
        stopping = true;
        join();
        synchronized (engine) {
            engine.close();
        }
        for (Job job : new ArrayList<>(unfinished)) job.fail(new IllegalStateException("the engine was closed"));
        return all;
    }

    /** Cancels what is queued and running, then frees the engine's memory. */
    @Override
    public void close() {
        if (worker.isAlive() || accepting) shutdown(Duration.ZERO);
    }

    private void join() {
        boolean interrupted = false;
        while (worker.isAlive()) {
            try {
                worker.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /** The engine thread: waits for a request, then runs the engine until it is idle again. */
    private void work() {
        while (!stopping) {
            Job first;
            try {
                first = queue.poll(IDLE_POLL_MILLIS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                return;
            }
            if (first == null) continue;
            Job[] head = {first};
            try {
                synchronized (engine) {
                    engine.run(() -> {
                        if (stopping) return null;
                        Job next = head[0] != null ? head[0] : queue.poll();
                        head[0] = null;
                        return next;
                    }, done -> steps.incrementAndGet());
                }
            } catch (RuntimeException e) {
                // the model or session closed under it, or a bug: every unfinished request learns why
                for (Job job : new ArrayList<>(unfinished)) job.fail(e);
                if (e instanceof IllegalStateException) {
                    accepting = false;
                    return;
                }
            }
        }
    }

    /** A queued request and where its text and result go. */
    private final class Job implements Submission {
        final Request request;
        final TextListener listener;
        final Completion completion = new Completion();
        final StreamingDecoder decoder;
        int sent; // characters of decoded text already given to the listener

        Job(Request request, TextListener listener) {
            this.request = request;
            this.listener = listener;
            this.decoder = listener == null ? null : tokenizer.streamingDecoder();
            completion.result().whenComplete((r, e) -> {
                unfinished.remove(this);
                // a request given up while queued leaves the queue now, not when a slot frees: else it holds a place
                // there and the queue refuses others (a 429 for a client of steer4j serve) for no work at all
                if (completion.isCancelled()) queue.remove(this);
            });
        }

        @Override public Request request() {
            return request;
        }

        @Override public boolean cancelled() {
            return completion.isCancelled();
        }

        @Override public boolean token(int id) {
            if (listener == null) return true;
            String delta = decoder.next(id);
            if (delta.isEmpty()) return true; // a character whose bytes are still coming
            sent += delta.length();
            return listener.onText(delta);
        }

        @Override public void completed(Result result) {
            if (listener != null && result.text().length() > sent && result.finishReason() != Result.FinishReason.STOP) {
                listener.onText(result.text().substring(sent));
            }
            completion.result().complete(result);
        }

        @Override public void failed(String message) {
            if (completion.isCancelled()) return;
            fail(new InvalidInputException(message));
        }

        void fail(RuntimeException e) {
            if (!completion.result().isDone()) completion.result().completeExceptionally(e);
        }
    }
}
