package dev.steer4j.session;

import dev.steer4j.InvalidInputException;
import dev.steer4j.generate.Generation;
import dev.steer4j.generate.Generator;
import dev.steer4j.generate.Sampling;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.hooks.Positions;
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
 *      SteeringSession session = model.session()) {
 *     Edit love = session.add("transformer.h.5", vector, 10);
 *     List<Generation> out = session.generate(List.of("I think dogs are "), 20, Sampling.GREEDY);
 *     love.setCoefficient(-10);
 * }
 * }</pre>
 */
public final class SteeringSession implements AutoCloseable {
    private final Gpt2Model model;
    private final HookedModel hooks;
    private final Generator generator;
    private final Set<AutoCloseable> handles = new LinkedHashSet<>();
    private final Runnable onClose;
    private final java.util.concurrent.atomic.AtomicReference<Thread> user = new java.util.concurrent.atomic.AtomicReference<>();
    private int depth; // nested calls of the thread inside
    private RequestSteering perRequest;
    private volatile boolean closed;

    /** Use {@link Gpt2Model#session()}. */
    public SteeringSession(Gpt2Model model, Runnable onClose) {
        this.model = model;
        this.hooks = new HookedModel(model);
        this.generator = hooks.generator();
        this.onClose = onClose;
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
                    + "': a session serves one thread at a time; give each thread its own (model.session())");
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
            HookHandle h = hooks.hookOutput(module, new HookOp.Capture(limit));
            Capture[] self = new Capture[1];
            self[0] = new Capture(h, limit, () -> takeBack(self[0], h::remove), this::hold);
            handles.add(self[0]);
            return self[0];
        }
    }

    public Capture capture(String module) {
        return capture(module, HookOp.Capture.DEFAULT_HISTORY);
    }

    /** Continues every prompt, all in one batch. */
    public List<Generation> generate(List<String> prompts, int maxNewTokens, Sampling sampling) {
        return generate(prompts, maxNewTokens, sampling, null);
    }

    /** As {@link #generate(List, int, Sampling)}; {@code onStep} is told how many steps are done. */
    public List<Generation> generate(List<String> prompts, int maxNewTokens, Sampling sampling, IntConsumer onStep) {
        try (Gpt2Model.Use call = hold()) {
            idleRequestSteering(prompts.size());
            return generator.generate(prompts, maxNewTokens, sampling, onStep);
        }
    }

    /** Each prompt's next-token logits, {@code [B][V]}, run as one batch. */
    public float[][] logits(List<String> prompts) {
        try (Gpt2Model.Use call = hold()) {
            idleRequestSteering(prompts.size());
            return generator.lastLogits(generator.encode(prompts, 0));
        }
    }

    /**
     * Runs every request in one batch, each with its own steering (on top of the session's edits), limit and
     * sampling. Each result equals its request run alone; a sampled request draws as if it ran alone too.
     */
    public List<Result> run(List<Request> requests, IntConsumer onStep) {
        try (Gpt2Model.Use call = hold()) {
            return runHeld(requests, onStep);
        }
    }

    private List<Result> runHeld(List<Request> requests, IntConsumer onStep) {
        int[][] ids = prepare(requests);
        int[] limits = new int[requests.size()];
        Sampling[] sampling = new Sampling[requests.size()];
        for (int b = 0; b < limits.length; b++) {
            limits[b] = requests.get(b).maxNewTokens();
            sampling[b] = requests.get(b).sampling();
        }
        int[][] out = generator.generateIds(ids, limits, sampling, new int[requests.size()], onStep);
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

    public List<Result> run(List<Request> requests) {
        return run(requests, null);
    }

    /** Each request's next-token logits under its own steering, {@code [B][V]}, in one batch. */
    public float[][] requestLogits(List<Request> requests) {
        try (Gpt2Model.Use call = hold()) {
            int[][] ids = prepare(requests);
            return generator.lastLogits(ids);
        }
    }

    /**
     * Checks that {@code r} can run on this model (its prompt fits with its token limit; each entry's module,
     * width and coefficient) and returns its prompt's ids; throws otherwise, before any work.
     */
    public int[] check(Request r) {
        try (Gpt2Model.Use call = hold()) {
            if (perRequest == null) perRequest = new RequestSteering(hooks);
            int[] ids = generator.encode(List.of(r.prompt()), r.maxNewTokens())[0];
            for (Steer s : r.steer()) perRequest.check(s, ids.length);
            return ids;
        }
    }

    /** Encodes and checks every request, then points the per-row hooks at their steering. */
    private int[][] prepare(List<Request> requests) {
        open();
        if (requests.isEmpty()) throw new InvalidInputException("no requests given");
        int[][] ids = new int[requests.size()][];
        for (int b = 0; b < ids.length; b++) ids[b] = check(requests.get(b));
        perRequest.prepare(requests.stream().map(Request::steer).toList());
        return ids;
    }

    /**
     * Per-request hooks stay in the program with zero rows while the session generates without them: taking them
     * out and putting them back would rebuild the program at every switch between {@link #run} and
     * {@link #generate} (x + 0 is exactly x, so results are unchanged).
     */
    private void idleRequestSteering(int rows) {
        if (perRequest != null) perRequest.idle(rows);
    }

    /** Undoes everything this session did. Safe from any thread when no other thread is inside a call. */
    @Override
    public synchronized void close() {
        if (closed) return;
        enter();
        try {
            closed = true;
            handles.clear(); // every edit, capture and bias delta lives in the hook engine, closed next
            if (perRequest != null) perRequest.close();
            hooks.close();
            onClose.run();
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
