package dev.steer4j;

import dev.steer4j.request.Positions;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.engine.BatchEngine;
import dev.steer4j.session.SteeringSession;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;

/**
 * Steering on one {@link Model}: the edits it adds apply to everything it runs; each {@link Request} may carry its
 * own steering on top, and a list of requests runs as one batch (each result equals its request run alone).
 * Closing it takes back every edit. A session serves one thread at a time (another thread's call is an
 * IllegalStateException naming the thread that holds it); give each thread its own.
 */
public final class Session implements AutoCloseable {
    private final SteeringSession session;
    private final Model model;
    private final List<Engine> engines = new java.util.concurrent.CopyOnWriteArrayList<>();
    private BatchEngine streaming; // kept between runs of the same size: its KV cache is the costly part

    Session(Model model) {
        this.model = model;
        this.session = SteeringSession.open(model.internal());
    }

    /**
     * A continuous-batching engine on this session, fed from any thread ({@link Engine#submit}); its thread is
     * this session's user until it is closed, so another call on this session meanwhile may be refused with an
     * IllegalStateException (even just after a result arrived: the engine's thread finishes its run after it) —
     * give other work a session of its own. Prompts go in by chunked prefill with the default token budget, the
     * larger of 256 and twice the slots (see {@link #engine(int, int, int)}); a model converted by a steer4j
     * without it prefills them apart, with the same results.
     *
     * @param slots how many requests run together at most (its KV cache has one row per slot)
     * @param maxQueue how many requests may wait for a slot before {@link Engine#submit} refuses more
     * @return the engine; close it when done (closing this session closes it too)
     * @throws InvalidInputException if a size is below 1
     * @throws MemoryLimitException if {@code slots} cannot fit in the memory there is
     * @throws IllegalStateException if this session or its model was closed
     */
    public Engine engine(int slots, int maxQueue) {
        return engine(slots, maxQueue, defaultTokenBudget(slots));
    }

    /**
     * As {@link #engine(int, int)}, with the token budget given: each step is one forward pass of at most
     * {@code tokenBudget} tokens, one per slot (each running request's next token) and then chunks of waiting
     * prompts, so that a request joining never runs a prefill of its own and a long prompt goes in over several
     * steps while the others keep decoding. 0 turns chunked prefill off: prompts are then prefilled apart,
     * between steps. Each request's result is the same either way.
     *
     * @param slots how many requests run together at most (its KV cache has one row per slot)
     * @param maxQueue how many requests may wait for a slot before {@link Engine#submit} refuses more
     * @param tokenBudget the most tokens one step feeds the model, more than {@code slots}; 0 for none
     * @return the engine; close it when done (closing this session closes it too)
     * @throws InvalidInputException if a size is below 1, the budget is not 0 and does not exceed the slots, or
     *     it is not 0 and the model's program is from a steer4j without chunked prefill (convert it again)
     * @throws MemoryLimitException if {@code slots} cannot fit in the memory there is
     * @throws IllegalStateException if this session or its model was closed
     */
    public Engine engine(int slots, int maxQueue, int tokenBudget) {
        if (maxQueue < 1) throw new InvalidInputException("the engine's queue must hold at least 1 request, got " + maxQueue);
        BatchEngine engine = session.engine(slots, tokenBudget);
        Engine api = new Engine(engine, model.internal().tokenizer(), maxQueue);
        engines.add(api);
        return api;
    }

    /**
     * The token budget that {@link #engine(int, int)}, {@link #run(Iterator, int, ResultSink)} and
     * {@link #prepare(int)} give {@code slots}: the larger of 256 and twice the slots, or 0 (prompts prefilled
     * apart) for a model converted by a steer4j without chunked prefill.
     *
     * @param slots how many requests run together at most
     * @return the budget
     * @throws IllegalStateException if this session or its model was closed
     */
    public int defaultTokenBudget(int slots) {
        return session.defaultTokenBudget(slots);
    }

    /**
     * Continues {@code prompt} greedily under this session's edits.
     *
     * @param prompt the text to continue
     * @param maxNewTokens how many tokens at most (fewer at end of text)
     * @return the result
     * @throws NullPointerException if {@code prompt} is null
     * @throws InvalidInputException if the prompt is empty or does not fit the model with the new tokens
     * @throws IllegalStateException if this session or its model was closed
     */
    public Result generate(String prompt, int maxNewTokens) {
        return run(Request.prompt(prompt).maxNewTokens(maxNewTokens).build());
    }

    /**
     * Runs one request: its own steering on top of this session's edits, its limit and sampling.
     *
     * @param request the request
     * @return its result
     * @throws NullPointerException if {@code request} is null
     * @throws InvalidInputException if it cannot run on this model (the message says why)
     * @throws IllegalStateException if this session or its model was closed
     */
    public Result run(Request request) {
        Objects.requireNonNull(request, "request");
        return session.run(List.of(request)).get(0);
    }

    /**
     * Runs every request as one batch; results in request order. Every request is checked before any work.
     *
     * @param requests at least one request
     * @return one result per request
     * @throws NullPointerException if {@code requests} or one of them is null
     * @throws InvalidInputException if one cannot run on this model (the message says which and why)
     * @throws IllegalStateException if this session or its model was closed
     */
    public List<Result> run(List<Request> requests) {
        Objects.requireNonNull(requests, "requests");
        for (Request r : requests) Objects.requireNonNull(r, "requests contains null");
        return session.run(requests);
    }

    /**
     * Runs every request {@code requests} gives as one continuous batch on the calling thread: up to {@code slots}
     * run together, the next is pulled only when a slot frees up, and each outcome goes to {@code sink} as it
     * finishes. A request that cannot run fails alone. Each result equals its request run alone. Prompts go in
     * by chunked prefill with the default token budget, as in {@link #engine(int, int)}.
     *
     * @param requests the requests, pulled as needed (a file may stream through)
     * @param slots how many run together at most
     * @param sink told each outcome, on this thread
     * @return where the time went
     * @throws NullPointerException if an argument is null
     * @throws InvalidInputException if {@code slots} is below 1
     * @throws MemoryLimitException if {@code slots} cannot fit in the memory there is
     * @throws IllegalStateException if this session or its model was closed
     */
    public RunStats run(Iterator<Request> requests, int slots, ResultSink sink) {
        return run(requests, slots, defaultTokenBudget(slots), sink);
    }

    /**
     * As {@link #run(Iterator, int, ResultSink)}, with the token budget given ({@link #engine(int, int, int)}):
     * each step feeds the model at most {@code tokenBudget} tokens, the running requests' next tokens and then
     * chunks of waiting prompts; 0 prefills prompts apart, between steps. Each result is the same either way.
     *
     * @param requests the requests, pulled as needed (a file may stream through)
     * @param slots how many run together at most
     * @param tokenBudget the most tokens one step feeds the model, more than {@code slots}; 0 for none
     * @param sink told each outcome, on this thread
     * @return where the time went
     * @throws NullPointerException if an argument is null
     * @throws InvalidInputException if {@code slots} is below 1, or the budget is not 0 and does not exceed the slots
     * @throws MemoryLimitException if {@code slots} cannot fit in the memory there is
     * @throws IllegalStateException if this session or its model was closed
     */
    public RunStats run(Iterator<Request> requests, int slots, int tokenBudget, ResultSink sink) {
        Objects.requireNonNull(requests, "requests");
        Objects.requireNonNull(sink, "sink");
        prepare(slots, tokenBudget);
        BatchEngine.Counters before = streaming.counters();
        streaming.run(requests, new BatchEngine.Sink() {
            @Override public void completed(Result result) { sink.completed(result); }

            @Override public void failed(Request request, String message) { sink.failed(request, message); }
        });
        BatchEngine.Counters run = streaming.counters().minus(before);
        return new RunStats(run.prefills(), run.prefillNanos() / 1e9, run.decodeSteps(), run.decodeNanos() / 1e9, run.modelFlops(),
                streaming.tokenBudget());
    }

    /**
     * Makes ready, now, the engine that {@link #run(Iterator, int, ResultSink)} uses for {@code slots}: a size that
     * cannot fit is refused here, before a caller creates anything (an output file) for the run.
     *
     * @param slots how many requests will run together at most
     * @throws InvalidInputException if {@code slots} is below 1
     * @throws MemoryLimitException if {@code slots} cannot fit in the memory there is
     * @throws IllegalStateException if this session or its model was closed
     */
    public void prepare(int slots) {
        prepare(slots, defaultTokenBudget(slots));
    }

    /**
     * As {@link #prepare(int)}, for {@link #run(Iterator, int, int, ResultSink)} with {@code tokenBudget}.
     *
     * @param slots how many requests will run together at most
     * @param tokenBudget the most tokens one step feeds the model, more than {@code slots}; 0 for none
     * @throws InvalidInputException if {@code slots} is below 1, or the budget is not 0 and does not exceed the slots
     * @throws MemoryLimitException if {@code slots} cannot fit in the memory there is
     * @throws IllegalStateException if this session or its model was closed
     */
    public void prepare(int slots, int tokenBudget) {
        SteeringSession.requireTokenBudget(tokenBudget); // before the running engine closes
        if (streaming != null && streaming.slots() == slots && streaming.tokenBudget() == tokenBudget) return;
        if (streaming != null) streaming.close(); // first: its KV cache must not count against the new engine's memory
        streaming = null;
        streaming = session.engine(slots, tokenBudget);
    }

    /**
     * Checks, before any work, that {@code request} can run on this model: its prompt fits with its token limit,
     * and each steering entry's module, width and coefficient.
     *
     * @param request the request
     * @return its prompt's token count
     * @throws NullPointerException if {@code request} is null
     * @throws InvalidInputException if it cannot run (the message says why)
     * @throws IllegalStateException if this session or its model was closed
     */
    public int check(Request request) {
        Objects.requireNonNull(request, "request");
        return session.check(request).length;
    }

    /**
     * Adds {@code coefficient × vector} at every position, for everything this session runs until removed.
     *
     * @param vector the vector (its modules say where)
     * @param coefficient a finite number
     * @return the edit, to change or take back
     * @throws NullPointerException if {@code vector} is null
     * @throws InvalidInputException if a module is not on this model or the width differs
     * @throws IllegalStateException if this session or its model was closed
     */
    public Edit add(SteeringVector vector, double coefficient) {
        return add(vector, coefficient, Positions.ALL);
    }

    /**
     * Adds {@code coefficient × vector} at {@code where}, for everything this session runs until removed.
     *
     * @param vector the vector (its modules say where)
     * @param coefficient a finite number
     * @param where the positions it acts at
     * @return the edit, to change or take back
     * @throws NullPointerException if an argument is null
     * @throws InvalidInputException if a module is not on this model or the width differs
     * @throws IllegalStateException if this session or its model was closed
     */
    public Edit add(SteeringVector vector, double coefficient, Positions where) {
        Objects.requireNonNull(vector, "vector");
        Objects.requireNonNull(where, "where");
        if (!Double.isFinite(coefficient)) throw new InvalidInputException("coefficient must be a finite number, got " + coefficient);
        dev.steer4j.session.Edit edit = session.add(vector.set(), coefficient, where);
        return new Edit() {
            @Override public double coefficient() { return edit.coefficient(); }

            @Override public void setCoefficient(double c) {
                if (!Double.isFinite(c)) throw new InvalidInputException("coefficient must be a finite number, got " + c);
                edit.setCoefficient(c);
            }

            @Override public void remove() { edit.remove(); }
        };
    }

    /** Closes its engines (cancelling what they run) and takes back every edit; the model stays open. */
    @Override
    public void close() {
        for (Engine e : engines) e.close(); // their threads use the session: stopped first
        engines.clear();
        session.close(); // refuses while another thread is inside a call, before anything below is freed
        if (streaming != null) streaming.close();
        streaming = null;
        model.forget(this);
    }
}
