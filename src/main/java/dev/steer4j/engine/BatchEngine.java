package dev.steer4j.engine;

import dev.steer4j.InvalidInputException;
import dev.steer4j.MemoryLimitException;
import dev.steer4j.model.ForwardListener;
import dev.steer4j.generate.LeftPadding;
import dev.steer4j.generate.RequestSampler;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.model.Gpt2Program;
import dev.steer4j.profile.Profiler;
import dev.steer4j.runtime.MemoryBudget;
import dev.steer4j.runtime.NativeArena;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.function.IntConsumer;
import java.util.function.Supplier;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Method;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Continuous batching: a fixed number of slots over one {@link SlotCache}. Requests enter free slots between
 * decode steps (each prefill writes its own slot only) and leave at EOS or their token limit, so no row
 * waits for another's prompt or generation. Each slot has its own positions, steering (per-row hooks,
 * {@link RowSteering}) and sampler, so a request's tokens do not depend on what shares the batch. Greedy
 * steps run in the graph ({@link Gpt2Program#GREEDY_STEP}): the tokens stay on the device between steps.
 * A static batch is this engine with every request admitted at once ({@link #runAll}).
 */
public final class BatchEngine implements AutoCloseable {
    /** Where results go, in the order requests finish. */
    public interface Sink {
        void completed(Result result);

        /** {@code request} could not run (bad steering, a prompt that does not fit, NaN logits). */
        void failed(Request request, String message);
    }

    private final Gpt2Model model;
    private final HookedModel hooks;
    private final RowSteering steering;
    private final Supplier<Gpt2Model.Use> hold;
    private final Slot[] active;
    private final int eos;
    private final int admitTogether;
    private boolean stopAtEos = true;
    private SlotCache cache;
    private JitModule program;
    private ForwardListener listener;
    private boolean listenerOnSteps;
    private Method greedy;
    private IValueVector greedyArgs;
    private Tensor greedyPast;
    private Tensor hostIds;
    private LongPointer hostView;
    // written by the running thread only; volatile so that another thread may read them (busySeconds)
    private volatile long prefills;
    private volatile long prefillNanos;
    private volatile long steps;
    private volatile long stepNanos;
    private volatile double modelFlops; // the forward passes' useful FLOPs: real tokens only, no pads or idle slots
    private IntConsumer onStep;
    private int runSteps;

    /** What one slot is running. */
    private static final class Slot {
        final Submission submission;
        final Request request;
        final int[] prompt;
        final RequestSampler sampler;
        final List<Integer> produced = new ArrayList<>();

        Slot(Submission submission, int[] prompt) {
            this.submission = submission;
            this.request = submission.request();
            this.prompt = prompt;
            this.sampler = new RequestSampler(request.sampling(), submission.stream());
        }
    }

    /**
     * An engine over {@code hooks}' program, steering each slot through {@code steering} (the caller's, which it
     * does not close); {@code hold} is taken for each run (a session's turn and its model).
     */
    public BatchEngine(HookedModel hooks, RowSteering steering, int slots, Supplier<Gpt2Model.Use> hold) {
        if (slots < 1) throw new InvalidInputException("the engine needs at least 1 slot, got " + slots);
        if (hooks.model().kind() != Gpt2Model.Kind.STEER4J) {
            throw new InvalidInputException("continuous batching needs a steer4j program (convert the model with `steer4j convert`)");
        }
        requireMemory(hooks.model(), slots); // before the first per-slot array
        this.model = hooks.model();
        this.hooks = hooks;
        this.steering = steering;
        this.hold = hold;
        this.active = new Slot[slots];
        this.admitTogether = Math.max(1, slots / 4);
        this.eos = model.tokenizer().eosTokenId();
    }

    /** Runs every request for exactly its token limit, through EOS (benchmarks). */
    public BatchEngine ignoringEos() {
        stopAtEos = false;
        return this;
    }

    public int slots() {
        return active.length;
    }

    /** Java heap per slot: its Slot reference, a step's token, its row's steering set, the cache's index arrays. */
    private static final long HEAP_BYTES_PER_SLOT = 128;
    /** Native per slot: the next ids, positions, prompt lengths and row index (longs), and a host copy of the ids. */
    private static final long NATIVE_BYTES_PER_SLOT = 5 * Long.BYTES;

    /**
     * Refuses, before anything is allocated, an engine of {@code slots} that cannot fit: on the model's device its
     * smallest KV cache ({@link SlotCache#SMALLEST} columns), its per-slot tensors and one decode step's logits
     * ({@code [slots, vocab]}); on the Java heap its per-slot state and one sampled step's logits as floats. A
     * cache that grows later (a longer request) is checked again before it grows ({@link #fitting}). A prefill's
     * scratch caches (at most half the cache) and the activations of a forward pass are not counted.
     */
    public static void requireMemory(Gpt2Model model, int slots) {
        String subject = "an engine of " + slots(slots);
        long cache = SlotCache.bytes(model, slots, SlotCache.SMALLEST);
        long logits = model.logitsBytes(slots);
        long onDevice = MemoryBudget.sum(cache, MemoryBudget.product(slots, NATIVE_BYTES_PER_SLOT), logits);
        MemoryBudget.require(subject, "its KV cache at the smallest (" + MemoryLimitException.human(cache) + ": "
                + SlotCache.SMALLEST + " columns, " + model.layers() + " layers, width " + model.width() + ", "
                + Tensors.floatTypeName(model.dtype()) + ") and one decode step's logits ("
                + MemoryLimitException.human(logits) + ")", onDevice, MemoryBudget.forTensors(model.device()));
        long heap = MemoryBudget.product(slots, MemoryBudget.sum(HEAP_BYTES_PER_SLOT, 4L * model.vocabSize()));
        MemoryBudget.requireHeap(subject, "its per-slot state and one sampled step's logits as floats", heap);
    }

    /**
     * As {@link #requireMemory(Gpt2Model, int)}, with the KV cache at the size a request of {@code span} positions
     * (prompt and new tokens) grows it to: what a static batch of such requests allocates.
     */
    public static void requireMemory(Gpt2Model model, int slots, int span) {
        requireMemory(model, slots);
        int capacity = SlotCache.capacityFor(span, model.maxPositions());
        MemoryBudget.require("an engine of " + slots(slots), "the KV cache for requests of " + span + " positions ("
                        + capacity + " columns, " + Tensors.floatTypeName(model.dtype()) + ")",
                SlotCache.bytes(model, slots, capacity), MemoryBudget.forTensors(model.device()));
    }

    /** Where the time went: prefills and decode steps, counts and seconds. */
    public java.util.Map<String, Object> stats() {
        return counters().toMap();
    }

    /** The engine's counts since it was made: prefills and decode steps, their time, the model FLOPs they did. */
    public record Counters(long prefills, long prefillNanos, long decodeSteps, long decodeNanos, double modelFlops) {
        /** What happened between {@code earlier} and these. */
        public Counters minus(Counters earlier) {
            return new Counters(prefills - earlier.prefills, prefillNanos - earlier.prefillNanos, decodeSteps - earlier.decodeSteps,
                    decodeNanos - earlier.decodeNanos, modelFlops - earlier.modelFlops);
        }

        public double busySeconds() {
            return (prefillNanos + decodeNanos) / 1e9;
        }

        public java.util.Map<String, Object> toMap() {
            java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
            m.put("prefills", prefills);
            m.put("prefill_seconds", prefillNanos / 1e9);
            m.put("decode_steps", decodeSteps);
            m.put("decode_seconds", decodeNanos / 1e9);
            m.put("model_flops", modelFlops);
            return m;
        }
    }

    /** The counts so far; safe from any thread (each field is read once, so a snapshot taken mid-step may mix steps). */
    public Counters counters() {
        return new Counters(prefills, prefillNanos, steps, stepNanos, modelFlops);
    }

    /** The cache, once the first request has come (null before). */
    SlotCache cache() {
        return cache;
    }

    /** Runs every request {@code source} gives (pulled only as slots free up), then returns. */
    public void run(Iterator<Request> source, Sink sink) {
        run(() -> {
            if (!source.hasNext()) return null;
            Request r = source.next();
            return new Submission() {
                @Override public Request request() { return r; }

                @Override public void completed(Result result) { sink.completed(result); }

                @Override public void failed(String message) { sink.failed(r, message); }
            };
        }, null);
    }

    /**
     * A static batch: every request admitted at once (at most {@link #slots()}), request b sampling from stream
     * {@code streams[b]} of its seed (0 = as if it ran alone). Results in request order; a request that cannot
     * run is an InvalidInputException. {@code onStep} is told how many steps are done.
     */
    public List<Result> runAll(List<Request> requests, int[] streams, IntConsumer onStep) {
        if (requests.size() > active.length) {
            throw new InvalidInputException(requests.size() + " requests do not fit the engine's " + active.length + " slots");
        }
        Result[] out = new Result[requests.size()];
        int[] next = {0};
        run(() -> {
            if (next[0] == requests.size()) return null;
            int index = next[0]++;
            Request r = requests.get(index);
            return new Submission() {
                @Override public Request request() { return r; }

                @Override public int stream() { return streams[index]; }

                @Override public void completed(Result result) { out[index] = result; }

                @Override public void failed(String message) { throw new InvalidInputException(message); }
            };
        }, onStep);
        return List.of(out);
    }

    /**
     * Runs what {@code source} gives, pulling a request only when a slot is free, until no slot is busy and the
     * source has nothing waiting. Requests that arrive while others run join between steps.
     */
    public void run(Submission.Source source, IntConsumer onStep) {
        try (Gpt2Model.Use held = hold.get()) {
            this.onStep = onStep;
            runSteps = 0;
            steering.reset(active.length);
            Arrays.fill(active, null);
            runHeld(source);
        } finally {
            this.onStep = null;
        }
    }

    private void runHeld(Submission.Source source) {
        Submission waiting = null; // pulled but not yet admitted (the source said it had one)
        while (true) {
            model.checkOpen();
            dropCancelled();
            // Requests enter in groups: a prefill of several prompts costs far less per token than one by one,
            // more than the few steps some slots wait (measured: BENCHMARKS.md, the batch benchmark).
            List<Admission> batch = new ArrayList<>();
            int free = 0;
            for (Slot sl : active) if (sl == null) free++;
            if (waiting == null) waiting = source.poll();
            boolean now = free >= admitTogether || free == active.length;
            for (int b = 0; b < active.length && now && waiting != null; b++) {
                if (active[b] != null) continue;
                Admission a = null;
                while (a == null && waiting != null) {
                    a = checked(b, waiting);
                    waiting = source.poll();
                }
                if (a != null) batch.add(a);
            }
            if (!batch.isEmpty()) admit(batch);
            if (!anyActive()) {
                if (waiting == null) return;
                continue;
            }
            step();
        }
    }

    /** Frees the slots of requests their callers no longer want. */
    private void dropCancelled() {
        for (int b = 0; b < active.length; b++) {
            if (active[b] != null && active[b].submission.cancelled()) {
                Slot s = active[b];
                release(b);
                s.submission.failed("cancelled");
            }
        }
    }

    private boolean anyActive() {
        for (Slot s : active) if (s != null) return true;
        return false;
    }

    /** A request bound for a free slot. */
    private record Admission(int slot, Slot request) {}

    /** {@code s} as an admission to slot {@code b}, or null when it is refused, cancelled or needs no step. */
    private Admission checked(int b, Submission s) {
        if (s.cancelled()) {
            s.failed("cancelled");
            return null;
        }
        Request r = s.request();
        int[] prompt;
        try {
            prompt = RequestCheck.promptIds(model, steering, r);
        } catch (InvalidInputException e) {
            s.failed(e.getMessage());
            return null;
        }
        if (r.maxNewTokens() == 0) {
            s.completed(new Result(r.id(), r.prompt(), prompt, new int[0], "", Result.FinishReason.LENGTH));
            return null;
        }
        return new Admission(b, new Slot(s, prompt));
    }

    /** Steers each admitted slot, prefills them all in one left-padded batch, and records their first tokens. */
    private void admit(List<Admission> batch) {
        batch = fitting(batch);
        if (batch.isEmpty()) return;
        int span = 0;
        for (Admission a : batch) span = Math.max(span, span(a));
        if (cache == null) {
            cache = new SlotCache(model, active.length, span);
            // kept across steps: out of any scope (the cache and these are closed by close())
            try (PointerScope temporaries = new PointerScope()) {
                hostIds = model.isCpu() ? cache.ids
                        : NativeArena.detach(Tensor.create(new long[active.length], new long[]{active.length, 1}));
                hostView = NativeArena.detach(hostIds.data_ptr_long());
                greedyPast = NativeArena.detach(Tensor.create(new long[]{0}, new long[]{}));
            }
        } else if (cache.ensureSpan(span)) {
            dropGreedyArgs();
        }
        List<Admission> ready = new ArrayList<>();
        for (Admission a : batch) {
            try {
                steering.admit(a.slot(), a.request().request.steer()); // refuses a coefficient that overflows the dtype
                ready.add(a);
            } catch (InvalidInputException e) {
                a.request().submission.failed(e.getMessage());
            }
        }
        if (ready.isEmpty()) return;
        long t0 = System.nanoTime();
        int[] first = prefill(ready);
        prefills += ready.size();
        prefillNanos += System.nanoTime() - t0;
        double done = 0;
        for (Admission a : ready) {
            for (int p = 0; p < a.request().prompt.length; p++) done += model.blockFlops(p);
            done += model.logitFlops(); // the last position's only
        }
        modelFlops += done;
        for (int i = 0; i < ready.size(); i++) {
            Admission a = ready.get(i);
            if (first[i] < 0) {
                a.request().submission.failed(NOT_FINITE);
                continue;
            }
            active[a.slot()] = a.request();
            try (Tensor id = cache.ids.select(0, a.slot()); Scalar token = new Scalar(first[i])) {
                id.fill_(token);
            }
            record(a.slot(), first[i]);
        }
        stepped();
    }

    private static String slots(int n) {
        return n == 1 ? "1 slot" : n + " slots";
    }

    private static int span(Admission a) {
        return a.request().prompt.length + a.request().request.maxNewTokens();
    }

    /**
     * The admissions whose span the cache can hold, growing it only where memory allows: the caches a request's
     * span asks for are checked against the memory there is before they are allocated, and a request that would
     * need more fails alone (bytes needed and available in its message) while the others run.
     */
    private List<Admission> fitting(List<Admission> batch) {
        int held = cache == null ? 0 : cache.capacity() / 2; // the span the cache holds without growing
        List<Admission> bySpan = new ArrayList<>(batch);
        bySpan.sort(Comparator.comparingInt(BatchEngine::span));
        Set<Admission> refused = new HashSet<>();
        for (Admission a : bySpan) {
            int span = span(a);
            if (span <= held) continue;
            int capacity = SlotCache.capacityFor(span, model.maxPositions());
            try {
                MemoryBudget.require("a request of " + span + " positions (prompt and new tokens)", "the KV cache of "
                                + slots(active.length) + " at " + capacity + " columns (" + Tensors.floatTypeName(model.dtype()) + ")",
                        SlotCache.bytes(model, active.length, capacity), MemoryBudget.forTensors(model.device()));
                held = capacity / 2;
            } catch (MemoryLimitException e) {
                refused.add(a);
                a.request().submission.failed(e.getMessage());
            }
        }
        if (refused.isEmpty()) return batch;
        List<Admission> kept = new ArrayList<>();
        for (Admission a : batch) if (!refused.contains(a)) kept.add(a);
        return kept;
    }

    private void stepped() {
        runSteps++;
        if (onStep != null) onStep.accept(runSteps);
    }

    /**
     * The prompts' forward pass as one left-padded batch over scratch caches (pads masked, positions from
     * each row's first real token, as a static batch does); each row's keys and values then move into its
     * slot's columns. Returns each row's first new token, or -1 where its logits are not finite.
     */
    private int[] prefill(List<Admission> rows) {
        refreshProgram();
        int n = rows.size();
        LeftPadding layout = LeftPadding.of(rows.stream().map(a -> a.request().prompt).toArray(int[][]::new));
        int width = layout.width();
        long[] slots = new long[n];
        int[] starts = new int[n];
        for (int i = 0; i < n; i++) {
            slots[i] = rows.get(i).slot();
            starts[i] = cache.place(rows.get(i).slot(), rows.get(i).request().prompt.length);
        }
        var device = model.device();
        int[] first = new int[n];
        try (InferenceMode guard = new InferenceMode(); PointerScope scope = new PointerScope();
             SlotCache.Scratch scratch = cache.scratch(n, width)) {
            Tensor input = Tensors.longs(layout.ids(), new long[]{n, width}, device);
            Tensor positions = Tensors.longs(layout.positions(), new long[]{n, width}, device);
            Tensor hookPositions = Tensors.longs(layout.hookPositions(), new long[]{n, width}, device);
            Tensor slotRows = Tensors.longs(slots, new long[]{n}, device);
            Tensor padCpu = Tensor.create(layout.keyPadding(width), new long[]{n, width});
            Tensor padding = padCpu.to(device, torch.ScalarType.Bool);
            listener.onForward(slotRows, hookPositions); // per-slot steering reads the admitted slots' rows
            listenerOnSteps = false;
            IValueVector args = new IValueVector(new IValue(input), new IValue(positions), new IValue(padding),
                    scratch.keys(), scratch.values(), new IValue(0), new IValue(true));
            float[] flat;
            try (Profiler.Span s = Profiler.span("prefill"); IValue out = program.forward(args); Tensor logits = out.toTensor()) {
                flat = Tensors.toFloats(logits);
            }
            try (Profiler.Span s = Profiler.span("sampling")) {
                int v = flat.length / n;
                for (int i = 0; i < n; i++) {
                    first[i] = finite(flat, i * v, v) ? rows.get(i).request().sampler.sample(flat, i * v, v) : -1;
                }
            }
            for (int i = 0; i < n; i++) {
                int length = rows.get(i).request().prompt.length;
                cache.store(scratch, i, width - length, rows.get(i).slot(), starts[i], length);
            }
        }
        return first;
    }

    private static boolean finite(float[] values, int offset, int count) {
        for (int i = offset; i < offset + count; i++) if (!Float.isFinite(values[i])) return false;
        return true;
    }

    /** One token for every slot; idle slots compute too (their rows are never read). */
    private void step() {
        long t0 = System.nanoTime();
        cache.beforeStep();
        refreshProgram();
        if (!listenerOnSteps) {
            listener.onForward(cache.rows, cache.positions); // the same tensors every step, updated in place
            listenerOnSteps = true;
        }
        boolean sampled = false;
        for (Slot s : active) if (s != null && !s.sampler.greedy()) sampled = true;
        long[] next = new long[active.length];
        IValueVector args = sampled ? null : greedyArgs(); // kept across steps: made outside the step's scope
        try (InferenceMode guard = new InferenceMode(); PointerScope scope = new PointerScope()) {
            // an idle slot's position counts up at every step, across runs too: wrapped here it stays inside the
            // position table (a busy row never reaches maxPositions: the request check holds it below)
            cache.positions.remainder_(new Scalar((long) model.maxPositions()));
            if (!sampled) {
                greedyPast.fill_(new Scalar(cache.clock()));
                try (Profiler.Span s = Profiler.span("decode_step")) {
                    greedy.apply(args).close();
                }
                if (hostIds != cache.ids) hostIds.copy_(cache.ids);
                hostView.get(next);
                if (anyNegative(next)) { // rows with NaN logits: no token to feed back; any id keeps the next step valid
                    long[] fed = next.clone();
                    for (int b = 0; b < fed.length; b++) if (fed[b] < 0) fed[b] = 0;
                    hostView.put(fed);
                    if (hostIds != cache.ids) cache.ids.copy_(hostIds);
                }
            } else {
                args = new IValueVector(new IValue(cache.ids), new IValue(cache.positions),
                        new IValue(cache.keyPadding()), cache.keys(), cache.values(), new IValue(cache.clock()), new IValue(true));
                float[] flat;
                try (Profiler.Span s = Profiler.span("decode_step"); IValue out = program.forward(args);
                     Tensor logits = out.toTensor()) {
                    flat = Tensors.toFloats(logits);
                }
                try (Profiler.Span s = Profiler.span("sampling")) {
                    int v = flat.length / active.length;
                    for (int b = 0; b < active.length; b++) {
                        if (active[b] == null) continue;
                        next[b] = finite(flat, b * v, v) ? active[b].sampler.sample(flat, b * v, v) : -1;
                    }
                }
                long[] fed = next.clone();
                for (int b = 0; b < fed.length; b++) if (fed[b] < 0) fed[b] = 0;
                hostView.put(fed);
                if (hostIds != cache.ids) cache.ids.copy_(hostIds);
                cache.positions.add_(new Scalar(1L));
            }
        }
        cache.advance();
        steps++;
        stepNanos += System.nanoTime() - t0;
        double done = 0;
        for (Slot s : active) { // each fed its newest token, at position prompt + produced - 1
            if (s != null) done += model.blockFlops(s.prompt.length + s.produced.size() - 1) + model.logitFlops();
        }
        modelFlops += done;
        for (int b = 0; b < active.length; b++) {
            if (active[b] == null) continue;
            if (next[b] < 0) {
                Slot s = active[b];
                release(b);
                s.submission.failed(NOT_FINITE);
            } else {
                record(b, (int) next[b]);
            }
        }
        stepped();
    }

    private static final String NOT_FINITE = "the forward pass gave NaN or infinite logits: is a"
            + " steering coefficient too large for the model's dtype?";

    private static boolean anyNegative(long[] ids) {
        for (long id : ids) if (id < 0) return true;
        return false;
    }

    /** Adds a slot's new token; the request leaves at EOS, at its limit, or when its caller stops it. */
    private void record(int b, int token) {
        Slot s = active[b];
        s.produced.add(token);
        boolean atEos = token == eos && stopAtEos;
        boolean wanted = s.submission.token(token);
        if (!atEos && wanted && s.produced.size() < s.request.maxNewTokens()) return;
        int[] out = s.produced.stream().mapToInt(Integer::intValue).toArray();
        release(b);
        Result.FinishReason why = atEos ? Result.FinishReason.EOS : wanted ? Result.FinishReason.LENGTH : Result.FinishReason.STOP;
        s.submission.completed(new Result(s.request.id(), s.request.prompt(), s.prompt, out, model.tokenizer().decode(out), why));
    }

    private void release(int b) {
        active[b] = null;
        try (Tensor p = cache.positions.select(0, b); Scalar zero = new Scalar(0L)) {
            p.fill_(zero); // an idle slot keeps counting; from 0 it stays inside the position table
        }
    }

    /** The hooked program as it is now; a new hook group rebuilds it (outside inference mode, before any scope). */
    private void refreshProgram() {
        JitModule current = hooks.module();
        if (current != program) {
            program = current;
            listener = hooks.listener();
            listener.onStart(cache.promptLengths); // updated in place at each admission
            listenerOnSteps = false;
            dropGreedyArgs();
            if (greedy != null) greedy.close();
            greedy = program.get_method(Gpt2Program.GREEDY_STEP);
        }
    }

    private IValueVector greedyArgs() {
        if (greedyArgs == null) {
            try (IValue ids = new IValue(cache.ids); IValue positions = new IValue(cache.positions);
                 IValue padding = new IValue(cache.keyPadding()); IValue past = new IValue(greedyPast)) {
                greedyArgs = new IValueVector(ids, positions, padding, cache.keys(), cache.values(), past);
            }
        }
        return greedyArgs;
    }

    private void dropGreedyArgs() {
        if (greedyArgs != null) greedyArgs.close();
        greedyArgs = null;
    }

    @Override
    public void close() {
        dropGreedyArgs();
        if (greedy != null) greedy.close();
        if (cache != null) {
            if (hostIds != null && hostIds != cache.ids) hostIds.close();
            cache.close();
        }
        if (greedyPast != null) greedyPast.close();
    }
}
