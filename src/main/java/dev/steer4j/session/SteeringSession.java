package dev.steer4j.session;

import dev.steer4j.MemoryLimitException;
import dev.steer4j.request.Result;
import dev.steer4j.request.Request;
import dev.steer4j.InvalidInputException;
import dev.steer4j.engine.BatchEngine;
import dev.steer4j.engine.RequestCheck;
import dev.steer4j.engine.RowSteering;
import dev.steer4j.generate.Generator;
import dev.steer4j.request.Sampling;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.request.Positions;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.steering.BiasSteering;
import dev.steer4j.steering.io.VectorSet;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.IntConsumer;
import org.bytedeco.pytorch.Tensor;

/**
 * A steering session on a loaded model: it owns its hooks, parameter edits, per-request steering and every
 * tensor they use; the model's weights are shared with other sessions, its state is not. Generation, logits
 * and captures always see the session's current edits. Closing the session (or each handle) undoes
 * everything it did. A session serves one thread at a time: a call while another thread is inside one is an
 * IllegalStateException naming that thread (threads of a pool may take turns). Sessions of one model may
 * run on many threads at once; closing the model waits for their calls in flight, which fail at their next step.
 *
 * <pre>{@code
 * try (Gpt2Model model = Gpt2Model.load(path, null, Devices.parse("cpu"));
 *      SteeringSession session = SteeringSession.open(model)) {
 *     Edit love = session.add("transformer.h.5", vector, 10);
 *     List<Result> out = session.generate(List.of("I think dogs are "), 20, Sampling.GREEDY);
 *     love.setCoefficient(-10);
 * }
 * }</pre>
 */
public final class SteeringSession implements AutoCloseable {
    private final Gpt2Model model;
    private final HookedModel hooks;
    private final Generator generator;
    private final Set<AutoCloseable> handles = new LinkedHashSet<>();
    private final Runnable detach;
    private final java.util.concurrent.atomic.AtomicReference<Thread> user = new java.util.concurrent.atomic.AtomicReference<>();
    private int depth; // nested calls of the thread inside
    private RowSteering rows; // per-request steering, made at first use
    private volatile boolean closed;

    /**
     * A new session on {@code model}: its own hooks and edits over the shared weights. Close it when done (the
     * model closes any left open when it closes).
     */
    public static SteeringSession open(Gpt2Model model) {
        return new SteeringSession(model);
    }

    private SteeringSession(Gpt2Model model) {
        this.model = model;
        this.hooks = new HookedModel(model);
        this.generator = new Generator(model, hooks);
        this.detach = model.attach(this);
    }

    public Gpt2Model model() {
        return model;
    }

    /**
     * The hook engine under this session, for the lower-level idioms of {@code dev.steer4j.steering}
     * (module wrapper, hook points, traces). Closing the session clears it too.
     */
    public HookedModel hooks() {
        open();
        return hooks;
    }

    /**
     * Holds this session (and its model) for one call, on the calling thread: for engines built on a session,
     * whose steps use {@link #hooks()} directly. Release it by closing.
     */
    public Gpt2Model.Use hold() {
        Gpt2Model.Use model = this.model.use();
        try {
            enter();
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        return () -> {
            exit();
            model.close();
        };
    }

    private void enter() {
        open(); // before taking the turn: a refused call must not keep it
        Thread me = Thread.currentThread();
        if (user.get() == me) {
            depth++;
        } else if (user.compareAndSet(null, me)) {
            depth = 1;
        } else {
            Thread other = user.get();
            throw new IllegalStateException("this steering session is in use by thread '" + (other == null ? "?" : other.getName())
                    + "': a session serves one thread at a time; give each thread its own (SteeringSession.open(model))");
        }
    }

    private void exit() {
        if (--depth == 0) user.set(null);
    }

    /** Adds {@code coefficient · vector} to the output of {@code module} at every position. */
    public Edit add(String module, float[] vector, double coefficient) {
        return add(module, vector, coefficient, Positions.ALL);
    }

    /** Adds {@code coefficient · vector} ({@code [d]}, or {@code [T, d]} row-major with ALIGNED) at {@code where}. */
    public Edit add(String module, float[] vector, double coefficient, Positions where) {
        return hookEdit(module, vector, where, coefficient, v -> new HookOp.Add(v, coefficient, where, false));
    }

    /** Adds each vector of {@code vectors} to its module's output: one edit for them all. */
    public Edit add(VectorSet vectors, double coefficient, Positions where) {
        List<Edit> parts = new ArrayList<>();
        try {
            for (String module : vectors.names()) parts.add(add(module, vectors.data(module), coefficient, where));
        } catch (RuntimeException e) {
            for (Edit p : parts) p.remove();
            throw e;
        }
        return track(new EditGroup(parts));
    }

    /** {@code coefficient · vector} added, each position rescaled to keep its L2 norm. */
    public Edit addNormPreserving(String module, float[] vector, double coefficient, Positions where) {
        return hookEdit(module, vector, where, coefficient, v -> new HookOp.NormPreservingAdd(v, coefficient, where, false));
    }

    /** Removes the component along {@code direction} from the output of {@code module}. */
    public Edit ablate(String module, float[] direction, Positions where) {
        return hookEdit(module, direction, where, 1.0, v -> new HookOp.Ablate(v, where, false));
    }

    /**
     * The same as {@link #add(String, float[], double)} at every position, done by editing a bias downstream
     * of {@code module} (no hook in the graph). Edits of one bias add up; each handle takes back its own.
     */
    public Edit editBias(String module, float[] vector, double coefficient) {
        try (Gpt2Model.Use call = hold()) {
            return track(new BiasEdit(module, vector.clone(), coefficient));
        }
    }

    /** Keeps the newest {@code limit} outputs of {@code module}, one per forward pass. */
    public Capture capture(String module, int limit) {
        try (Gpt2Model.Use call = hold()) {
            HookHandle h = hooks.hookOutput(module, new HookOp.Store(limit));
            Capture[] self = new Capture[1];
            self[0] = new Capture(h, limit, () -> takeBack(self[0], h::remove), this::hold);
            handles.add(self[0]);
            return self[0];
        }
    }

    public Capture capture(String module) {
        return capture(module, HookOp.Store.DEFAULT_HISTORY);
    }

    /** Continues every prompt, all in one batch. */
    public List<Result> generate(List<String> prompts, int maxNewTokens, Sampling sampling) {
        return generate(prompts, maxNewTokens, sampling, null);
    }

    /**
     * As {@link #generate(List, int, Sampling)}; {@code onStep} is told how many steps are done. Each result's
     * id is its prompt's index; with one seed for all, row b draws from stream b of it (equal prompts differ).
     */
    public List<Result> generate(List<String> prompts, int maxNewTokens, Sampling sampling, IntConsumer onStep) {
        List<Request> requests = new ArrayList<>();
        for (int b = 0; b < prompts.size(); b++) {
            requests.add(new Request(String.valueOf(b), prompts.get(b), List.of(), maxNewTokens, sampling));
        }
        int[] streams = new int[prompts.size()];
        Arrays.setAll(streams, b -> b);
        try (Gpt2Model.Use call = hold()) {
            return runHeld(requests, streams, onStep);
        }
    }

    /** Each prompt's next-token logits, {@code [B][V]}, run as one batch. */
    public float[][] logits(List<String> prompts) {
        try (Gpt2Model.Use call = hold()) {
            rows().reset(prompts.size());
            return generator.lastLogits(generator.encode(prompts, 0));
        }
    }

    /**
     * Runs every request in one batch, each with its own steering (on top of the session's edits), limit and
     * sampling. Each result equals its request run alone; a sampled request draws as if it ran alone too.
     */
    public List<Result> run(List<Request> requests, IntConsumer onStep) {
        try (Gpt2Model.Use call = hold()) {
            return runHeld(requests, new int[requests.size()], onStep);
        }
    }

    public List<Result> run(List<Request> requests) {
        return run(requests, null);
    }

    /**
     * A static batch: a steer4j program runs it on the engine with every request admitted at once (which checks
     * every request before any work); a foreign model (no KV cache, so no engine) by full recompute, each row
     * steered through the same per-row hooks.
     */
    private List<Result> runHeld(List<Request> requests, int[] streams, IntConsumer onStep) {
        if (requests.isEmpty()) throw new InvalidInputException("no requests given");
        if (model.kind() == Gpt2Model.Kind.STEER4J) {
            BatchEngine engine;
            try {
                engine = engine(requests.size());
            } catch (MemoryLimitException e) {
                throw e.withSubject("a batch of " + requests.size() + " requests");
            }
            try (engine) {
                return engine.runAll(requests, streams, onStep);
            }
        }
        int[][] ids = checkAll(requests);
        int[] limits = new int[requests.size()];
        Sampling[] sampling = new Sampling[requests.size()];
        for (int b = 0; b < limits.length; b++) {
            limits[b] = requests.get(b).maxNewTokens();
            sampling[b] = requests.get(b).sampling();
        }
        steerRows(requests);
        int[][] out = generator.generateIds(ids, limits, sampling, streams, onStep);
        int eos = model.tokenizer().eosTokenId();
        List<Result> results = new ArrayList<>();
        for (int b = 0; b < out.length; b++) {
            Request r = requests.get(b);
            boolean stopped = out[b].length > 0 && out[b][out[b].length - 1] == eos;
            results.add(new Result(r.id(), r.prompt(), ids[b], out[b], model.tokenizer().decode(out[b]),
                    stopped ? Result.FinishReason.EOS : Result.FinishReason.LENGTH));
        }
        return results;
    }

    /** Each request's next-token logits under its own steering, {@code [B][V]}, in one batch. */
    public float[][] requestLogits(List<Request> requests) {
        try (Gpt2Model.Use call = hold()) {
            int[][] ids = checkAll(requests);
            steerRows(requests);
            return generator.lastLogits(ids);
        }
    }

    /**
     * Teacher forcing under per-request steering: row b reads the tokens {@code ids[b]} (say, a request's prompt and
     * what it generated) under {@code requests.get(b)}'s steering, and gives its logits at positions {@code from[b]}
     * to its last, {@code [B][len_b - from_b][V]}, in one batch. Each request is checked first, as {@link #run} does.
     */
    public float[][][] requestPositionLogits(List<Request> requests, int[][] ids, int[] from) {
        try (Gpt2Model.Use call = hold()) {
            checkAll(requests);
            for (int b = 0; b < ids.length; b++) {
                if (ids[b].length == 0 || ids[b].length > model.maxPositions() || from[b] < 0 || from[b] > ids[b].length) {
                    throw new InvalidInputException("row " + b + ": " + ids[b].length + " tokens, from position " + from[b]
                            + " (the model has " + model.maxPositions() + " positions)");
                }
            }
            steerRows(requests);
            return generator.positionLogits(ids, from);
        }
    }

    /** The token budget this session's engines of {@code slots} get by default ({@link BatchEngine#defaultTokenBudget}). */
    public int defaultTokenBudget(int slots) {
        try (Gpt2Model.Use call = hold()) {
            return BatchEngine.defaultTokenBudget(model(), slots);
        }
    }

    /**
     * A continuous-batching engine on this session: its program (with the session's edits), per-request
     * steering through the session's per-row hooks, and each run holding the session. Close it when done.
     */
    public BatchEngine engine(int slots) {
        try (Gpt2Model.Use call = hold()) {
            return new BatchEngine(hooks, rows(), slots, this::hold);
        }
    }

    /** Refuses a negative token budget (0 is none; the engine refuses one not above its slots). */
    public static void requireTokenBudget(int tokenBudget) {
        if (tokenBudget < 0) throw new InvalidInputException("the token budget must be 0 (none) or more than the slots, got " + tokenBudget);
    }

    /**
     * As {@link #engine(int)}, with chunked prefill of at most {@code tokenBudget} tokens a step (0: prompts
     * prefilled apart); the engine is closed again if the budget is refused.
     */
    public BatchEngine engine(int slots, int tokenBudget) {
        requireTokenBudget(tokenBudget);
        BatchEngine engine = engine(slots);
        try {
            if (tokenBudget > 0) engine.tokenBudget(tokenBudget);
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
        return engine;
    }

    /**
     * Checks that {@code r} can run on this model (its prompt fits with its token limit; each entry's module,
     * width and coefficient) and returns its prompt's ids; throws otherwise, before any work.
     */
    public int[] check(Request r) {
        try (Gpt2Model.Use call = hold()) {
            return RequestCheck.promptIds(model, rows(), r);
        }
    }

    /** Encodes and checks every request, before any work. */
    private int[][] checkAll(List<Request> requests) {
        if (requests.isEmpty()) throw new InvalidInputException("no requests given");
        int[][] ids = new int[requests.size()][];
        for (int b = 0; b < ids.length; b++) ids[b] = check(requests.get(b));
        return ids;
    }

    /** Row b of the per-row hooks steers as request b asks. */
    private void steerRows(List<Request> requests) {
        rows().reset(requests.size());
        for (int b = 0; b < requests.size(); b++) rows.admit(b, requests.get(b).steer());
    }

    private RowSteering rows() {
        if (rows == null) rows = new RowSteering(hooks);
        return rows;
    }

    /** Undoes everything this session did. Safe from any thread when no other thread is inside a call. */
    @Override
    public synchronized void close() {
        if (closed) return;
        enter();
        try {
            closed = true;
            handles.clear(); // every edit, capture and bias delta lives in the hook engine, closed next
            if (rows != null) rows.close();
            hooks.close();
            detach.run();
        } finally {
            exit();
        }
    }

    /** Takes one handle back; nothing to do once the session has closed (closing took every one back). */
    private void takeBack(Object handle, Runnable undo) {
        if (closed) return;
        try (Gpt2Model.Use call = hold()) {
            undo.run();
            handles.remove(handle);
        }
    }

    private void open() {
        if (closed) throw new IllegalStateException("this steering session is closed");
    }

    private interface OpFor {
        HookOp make(Tensor vector);
    }

    private Edit hookEdit(String module, float[] vector, Positions where, double coefficient, OpFor op) {
        try (Gpt2Model.Use call = hold()) {
            long[] shape = shapeOf(module, vector, where);
            HookHandle h;
            try (Tensor v = Tensors.floats(vector, shape, model.device(), model.dtype())) {
                h = hooks.hookOutput(module, op.make(v)); // the hook keeps a copy of its own
            }
            return track(new HookEdit(h, shape, coefficient));
        }
    }

    private long[] shapeOf(String module, float[] vector, Positions where) {
        int d = model.width();
        if (where.kind() == Positions.Kind.ALIGNED) {
            if (vector.length == 0 || vector.length % d != 0) {
                throw new InvalidInputException("aligned vector for " + module + " has " + vector.length
                        + " values, not a multiple of the model width " + d);
            }
            return new long[]{vector.length / d, d};
        }
        return new long[]{vector.length};
    }

    private <E extends Edit> E track(E edit) {
        handles.add(edit);
        return edit;
    }

    /** An add, norm-preserving add or ablation hook. */
    private final class HookEdit implements Edit {
        private final HookHandle hook;
        private final long[] shape;
        private double coefficient;

        HookEdit(HookHandle hook, long[] shape, double coefficient) {
            this.hook = hook;
            this.shape = shape;
            this.coefficient = coefficient;
        }

        @Override public double coefficient() { return coefficient; }

        @Override
        public void setCoefficient(double c) {
            try (Gpt2Model.Use call = hold()) {
                hook.setCoefficient(c);
                coefficient = c;
            }
        }

        @Override
        public void setVector(float[] vector) {
            try (Gpt2Model.Use call = hold()) {
                if (vector.length != Arrays.stream(shape).reduce(1, (a, b) -> a * b)) {
                    throw new InvalidInputException("vector for " + hook.module() + " has " + vector.length + " values, expected "
                            + Arrays.toString(shape));
                }
                hook.setVector(vector, shape);
            }
        }

        @Override
        public void remove() {
            takeBack(this, hook::remove);
        }
    }

    /** A bias edit: changing it swaps its parameter delta (a rebuild, not a per-step cost). */
    private final class BiasEdit implements Edit {
        private final String module;
        private float[] vector;
        private double coefficient;
        private AutoCloseable delta;

        BiasEdit(String module, float[] vector, double coefficient) {
            this.module = module;
            this.vector = vector;
            this.coefficient = coefficient;
            this.delta = BiasSteering.apply(hooks, module, vector, coefficient, Positions.ALL);
        }

        @Override public double coefficient() { return coefficient; }

        @Override
        public void setCoefficient(double c) {
            try (Gpt2Model.Use call = hold()) {
                replace(vector, c);
            }
        }

        @Override
        public void setVector(float[] v) {
            try (Gpt2Model.Use call = hold()) {
                replace(v.clone(), coefficient);
            }
        }

        private void replace(float[] v, double c) {
            AutoCloseable next = BiasSteering.apply(hooks, module, v, c, Positions.ALL); // refused input changes nothing
            undo(delta);
            delta = next;
            vector = v;
            coefficient = c;
        }

        @Override
        public void remove() {
            takeBack(this, () -> undo(delta));
        }
    }

    /** Several edits as one (a vector set over its modules). */
    private final class EditGroup implements Edit {
        private final List<Edit> parts;

        EditGroup(List<Edit> parts) {
            this.parts = parts;
            for (Edit p : parts) handles.remove(p); // the group owns them
        }

        @Override public double coefficient() { return parts.get(0).coefficient(); }

        @Override
        public void setCoefficient(double c) {
            try (Gpt2Model.Use call = hold()) {
                for (Edit p : parts) p.setCoefficient(c);
            }
        }

        @Override
        public void setVector(float[] vector) {
            throw new InvalidInputException("an edit over several modules has no single vector; set each module's own");
        }

        @Override
        public void remove() {
            takeBack(this, () -> parts.forEach(Edit::remove));
        }
    }

    private static void undo(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            throw new IllegalStateException("undoing a bias edit failed", e);
        }
    }
}
