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
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import java.util.function.Supplier;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.LongOptional;
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
 * A static batch is this engine with every request admitted at once ({@link #runAll}). With a token budget
 * ({@link #tokenBudget(int)}), prompts go in as chunks of each step's one packed forward instead, over a
 * {@link PackedCache}.
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
    private SlotCache.Window greedyWindow; // the window greedyArgs holds
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
    // chunked prefill (tokenBudget > 0): one packed forward per step over a PackedCache
    private int tokenBudget;
    private PackedCache packed;
    private final ArrayDeque<Integer> prefilling = new ArrayDeque<>(); // slots whose prompt is not all in, in admission order
    private Consumer<PackedRows> packedRows; // told each packed step's rows (tests)

    /** What one slot is running. */
    private static final class Slot {
        final Submission submission;
        final Request request;
        final int[] prompt;
        final RequestSampler sampler;
        final List<Integer> produced = new ArrayList<>();
        int done; // prompt tokens in the cache (chunked prefill)

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

    /**
     * The token budget {@link #chunkedPrefill()} gives an engine of {@code slots}: 256 rows per step, where a step's
     * gemms leave the low-batch regime that a decode step of 16-32 rows is in (BENCHMARKS.md, batch and roofline),
     * and at least twice the slots, so that prompts always get as many rows as the decode tokens.
     */
    public static int defaultTokenBudget(int slots) {
        return Math.max(256, 2 * slots);
    }

    /**
     * The token budget an engine of {@code slots} on {@code model} gets by default: {@link #defaultTokenBudget(int)}
     * where its program has the packed step (every program this steer4j builds or converts), else 0: an archive of
     * an earlier steer4j prefills prompts apart, as it did then, with the same results.
     */
    public static int defaultTokenBudget(Gpt2Model model, int slots) {
        return Gpt2Program.hasPackedStep(model.module()) ? defaultTokenBudget(slots) : 0;
    }

    /** Chunked prefill with {@link #defaultTokenBudget}: see {@link #tokenBudget(int)}. */
    public BatchEngine chunkedPrefill() {
        return tokenBudget(defaultTokenBudget(active.length));
    }

    /**
     * Chunked prefill: each step is one forward of at most {@code budget} tokens, one per slot (each running
     * request's next token; a throw-away token for a slot with nothing to decode) and then chunks of the prompts
     * of admitted requests, in admission order, as many tokens as the budget leaves. A request enters a free slot
     * at once and its prompt goes in over as many steps as it needs, so admitting one never runs a separate
     * prefill and no decoding row waits for a long prompt. Results equal those of single runs, as without it.
     * Set before the first run.
     */
    public BatchEngine tokenBudget(int budget) {
        if (budget <= active.length) {
            throw new InvalidInputException("the token budget (" + budget + ") must exceed the engine's " + slots(active.length)
                    + ": each step feeds every slot one token, and prompts need the rest");
        }
        if (cache != null) throw new IllegalStateException("the token budget is set before the engine's first run");
        if (!Gpt2Program.hasPackedStep(model.module())) {
            throw new InvalidInputException("chunked prefill needs a program of this steer4j (convert the model again with `steer4j convert`)");
        }
        tokenBudget = budget;
        return this;
    }

    /** The token budget of a step, or 0 when prompts are prefilled apart (this class's default; the API's is chunked). */
    public int tokenBudget() {
        return tokenBudget;
    }

    /** A packed step's rows: each one's slot and position, and whether it is a real token (not a throw-away one). */
    record PackedRows(long[] slots, long[] positions, boolean[] real) {
        int count() {
            return slots.length;
        }
    }

    /** Told each packed step's rows (tests). */
    void onPackedStep(Consumer<PackedRows> rows) {
        packedRows = rows;
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
                + Tensors.floatTypeName(model.cacheDtype()) + ") and one decode step's logits ("
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
                        + capacity + " columns, " + Tensors.floatTypeName(model.cacheDtype()) + ")",
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
            prefilling.clear();
            if (tokenBudget > 0) runChunked(source);
            else runHeld(source);
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
                                + slots(active.length) + " at " + capacity + " columns (" + Tensors.floatTypeName(model.cacheDtype()) + ")",
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
        SlotCache.Window window = cache.window();
        if (window != greedyWindow) dropGreedyArgs();
        IValueVector args = sampled ? null : greedyArgs(window); // kept across steps: made outside the step's scope
        try (InferenceMode guard = new InferenceMode(); PointerScope scope = new PointerScope()) {
            // an idle slot's position counts up at every step, across runs too: wrapped here it stays inside the
            // position table (a busy row never reaches maxPositions: the request check holds it below)
            cache.positions.remainder_(new Scalar((long) model.maxPositions()));
            if (!sampled) {
                greedyPast.fill_(new Scalar(cache.clock() - window.first()));
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
                args = new IValueVector(new IValue(cache.ids), new IValue(cache.positions), new IValue(window.keyPadding()),
                        window.keys(), window.values(), new IValue(cache.clock() - window.first()), new IValue(true));
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
        prefilling.remove(b);
        if (cache == null) return; // chunked prefill: the slot's next request starts from zeros (PackedCache.admit)
        cache.vacate(b);
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
            listener.onStart(packed != null ? packed.promptLengths : cache.promptLengths); // updated in place at each admission
            listenerOnSteps = false;
            dropGreedyArgs();
            if (greedy != null) greedy.close();
            greedy = program.get_method(Gpt2Program.GREEDY_STEP);
        }
    }

    private IValueVector greedyArgs(SlotCache.Window window) {
        if (greedyArgs == null) {
            try (IValue ids = new IValue(cache.ids); IValue positions = new IValue(cache.positions);
                 IValue padding = new IValue(window.keyPadding()); IValue past = new IValue(greedyPast)) {
                greedyArgs = new IValueVector(ids, positions, padding, window.keys(), window.values(), past);
            }
            greedyWindow = window;
        }
        return greedyArgs;
    }

    private void dropGreedyArgs() {
        if (greedyArgs != null) greedyArgs.close();
        greedyArgs = null;
        greedyWindow = null;
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
        if (packed != null) packed.close();
    }

    // ---- chunked prefill ----

    /** As {@link #runHeld}, each step one packed forward: decode tokens first, then prompt chunks up to the budget. */
    private void runChunked(Submission.Source source) {
        Submission waiting = null;
        while (true) {
            model.checkOpen();
            dropCancelled();
            if (waiting == null) waiting = source.poll();
            for (int b = 0; b < active.length && waiting != null; b++) {
                boolean taken = active[b] != null;
                while (!taken && waiting != null) {
                    Admission a = checked(b, waiting);
                    waiting = source.poll();
                    taken = a != null && reserve(a);
                }
            }
            if (!anyActive()) {
                if (waiting == null) return;
                continue;
            }
            packedStep();
        }
    }

    /**
     * Takes slot {@code a.slot()} for its request: the cache grown to its span where memory allows (else it fails
     * alone, bytes needed and available in its message), its steering written to its row; its prompt is then
     * prefilled by the steps to come.
     */
    private boolean reserve(Admission a) {
        Slot s = a.request();
        int span = span(a);
        if (packed == null || span > packed.capacity()) {
            int capacity = PackedCache.capacityFor(span, model.maxPositions());
            try {
                MemoryBudget.require("a request of " + span + " positions (prompt and new tokens)", "the KV cache of "
                                + slots(active.length) + " at " + capacity + " columns (" + Tensors.floatTypeName(model.cacheDtype()) + ")",
                        PackedCache.bytes(model, active.length, capacity), MemoryBudget.forTensors(model.device()));
            } catch (MemoryLimitException e) {
                s.submission.failed(e.getMessage());
                return false;
            }
            if (packed == null) packed = new PackedCache(model, active.length, span);
            else packed.ensureSpan(span);
        }
        try {
            steering.admit(a.slot(), s.request.steer()); // refuses a coefficient that overflows the dtype
        } catch (InvalidInputException e) {
            s.submission.failed(e.getMessage());
            return false;
        }
        packed.admit(a.slot(), s.prompt.length);
        active[a.slot()] = s;
        prefilling.add(a.slot());
        return true;
    }

    /**
     * One packed forward: rows 0..S-1 one token per slot (its next token when it decodes, else a throw-away one
     * at position 0 that writes the spare column), then the budget's prompt chunks. Only the rows whose logits are
     * used reach the lm_head: decoding slots, and each chunk that completes its prompt (its request's first token).
     */
    private void packedStep() {
        long t0 = System.nanoTime();
        refreshProgram();
        int slotCount = active.length;
        List<int[]> chunks = new ArrayList<>(); // slot, first row, length, end column
        int n = slotCount;
        for (int b : prefilling) {
            if (n >= tokenBudget) break;
            Slot s = active[b];
            int length = Math.min(tokenBudget - n, s.prompt.length - s.done);
            chunks.add(new int[]{b, n, length, s.done + length});
            n += length;
        }
        long[] ids = new long[n];
        long[] positions = new long[n];
        long[] slotOf = new long[n];
        long[] columns = new long[n];
        List<Integer> selected = new ArrayList<>(); // rows whose logits are read
        List<Integer> selectedSlot = new ArrayList<>();
        int past = 1;
        boolean decoding = false;
        double done = 0;
        for (int b = 0; b < slotCount; b++) {
            Slot s = active[b];
            slotOf[b] = b;
            if (s != null && s.done == s.prompt.length) {
                ids[b] = s.produced.get(s.produced.size() - 1);
                positions[b] = s.prompt.length + s.produced.size() - 1;
                columns[b] = positions[b];
                past = Math.max(past, (int) positions[b] + 1);
                selected.add(b);
                selectedSlot.add(b);
                decoding = true;
                done += model.blockFlops((int) positions[b]) + model.logitFlops();
            } else {
                columns[b] = packed.spare();
            }
        }
        long[] chunkRows = new long[4 * chunks.size()];
        for (int c = 0; c < chunks.size(); c++) {
            int[] ch = chunks.get(c);
            Slot s = active[ch[0]];
            for (int j = 0; j < ch[2]; j++) {
                int r = ch[1] + j;
                ids[r] = s.prompt[s.done + j];
                positions[r] = s.done + j;
                columns[r] = positions[r];
                slotOf[r] = ch[0];
                done += model.blockFlops((int) positions[r]);
            }
            if (ch[3] == s.prompt.length) {
                selected.add(ch[1] + ch[2] - 1);
                selectedSlot.add(ch[0]);
                done += model.logitFlops();
            }
            for (int k = 0; k < 4; k++) chunkRows[4 * c + k] = ch[k];
        }
        int m = selected.size();
        long[] all = new long[4 * n + m];
        System.arraycopy(ids, 0, all, 0, n);
        System.arraycopy(positions, 0, all, n, n);
        System.arraycopy(slotOf, 0, all, 2 * n, n);
        System.arraycopy(columns, 0, all, 3 * n, n);
        for (int i = 0; i < m; i++) all[4 * n + i] = selected.get(i);
        boolean sampled = false;
        for (int b : selectedSlot) if (!active[b].sampler.greedy()) sampled = true;
        long[] next = new long[m];
        try (InferenceMode guard = new InferenceMode(); PointerScope scope = new PointerScope()) {
            // one host-to-device copy per step: ids, positions, slots, columns and the selected rows
            Tensor inputs = Tensors.longs(all, new long[]{all.length}, model.device());
            Tensor idsT = inputs.narrow(0, 0, n).view(n, 1);
            Tensor positionsT = inputs.narrow(0, n, n).view(n, 1);
            Tensor slotsT = inputs.narrow(0, 2L * n, n);
            Tensor columnsT = inputs.narrow(0, 3L * n, n);
            Tensor selectT = inputs.narrow(0, 4L * n, m);
            Tensor chunksT = chunks.isEmpty() ? packed.noChunks : Tensor.create(chunkRows, new long[]{chunks.size(), 4});
            listener.onForward(slotsT, positionsT); // per-row hooks index each token's slot and position
            listenerOnSteps = false;
            IValueVector args = new IValueVector(new IValue(idsT), new IValue(positionsT), new IValue(packed.noPadding),
                    packed.keys(), packed.values(), new IValue(past), new IValue(false), new IValue(slotsT),
                    new IValue(columnsT), new IValue(chunksT), new IValue(selectT));
            try (Profiler.Span sp = Profiler.span(decoding ? "decode_step" : "prefill"); IValue out = program.forward(args);
                 Tensor logits = out.toTensor()) {
                if (m > 0 && !sampled) { // argmax on the device: only the m ids come back
                    Tensor rows = logits.view(m, -1);
                    long[] best = Tensors.toLongs(rows.argmax(new LongOptional(1), false));
                    long[] finite = Tensors.toLongs(rows.isfinite().all(1));
                    for (int i = 0; i < m; i++) next[i] = finite[i] != 0 ? best[i] : -1;
                } else if (m > 0) {
                    float[] flat = Tensors.toFloats(logits);
                    try (Profiler.Span s = Profiler.span("sampling")) {
                        int v = flat.length / m;
                        for (int i = 0; i < m; i++) {
                            next[i] = finite(flat, i * v, v) ? active[selectedSlot.get(i)].sampler.sample(flat, i * v, v) : -1;
                        }
                    }
                }
            }
        }
        long elapsed = System.nanoTime() - t0;
        if (decoding) {
            steps++;
            stepNanos += elapsed;
        } else {
            prefillNanos += elapsed;
        }
        modelFlops += done;
        if (packedRows != null) {
            boolean[] real = new boolean[n];
            for (int r = 0; r < n; r++) real[r] = columns[r] != packed.spare();
            packedRows.accept(new PackedRows(slotOf, positions, real));
        }
        for (int[] ch : chunks) {
            Slot s = active[ch[0]];
            s.done += ch[2];
            if (s.done == s.prompt.length) {
                prefilling.remove(ch[0]);
                prefills++;
            }
        }
        for (int i = 0; i < m; i++) {
            int b = selectedSlot.get(i);
            if (next[i] < 0) {
                Slot s = active[b];
                release(b);
                s.submission.failed(NOT_FINITE);
            } else {
                record(b, (int) next[i]);
            }
        }
        stepped();
    }
}
