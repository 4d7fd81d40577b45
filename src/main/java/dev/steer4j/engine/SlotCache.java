package dev.steer4j.engine;

import dev.steer4j.model.GPT2Config;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.MemoryBudget;
import dev.steer4j.runtime.NativeArena;
import dev.steer4j.runtime.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * The engine's KV cache: {@code S} slots (batch rows) × {@code C} columns per layer, preallocated and
 * written in place. Every slot writes its next key and value at the same column, the clock {@code t}, so
 * a decode step is one ordinary forward over all slots; a slot's own request occupies columns
 * {@code [start, t)} and its key padding hides the columns before {@code start} (the causal mask hides
 * those after {@code t}). Attention ignores the order of keys
 * (GPT-2's positions are in the embeddings), so where a request sits in the columns does not change it.
 *
 * <p>A request with a prompt of L tokens is prefilled into columns {@code [t − L, t)} of its slot (the
 * columns its slot's previous request used, now free). The clock starts at {@code C/2} and, when it reaches
 * {@code C}, the newest {@code C/2} columns move to the front: each live request spans at most {@code C/2}
 * columns, so none is cut. {@code C} doubles (up to twice the model's positions) when a longer request
 * arrives. Memory is bounded by slots × 2 × n_positions whatever the input; each allocation is checked against the
 * memory there is before it is made ({@link BatchEngine#requireMemory}, and its admissions for growth).
 *
 * <p>What it keeps is owned by its arena; every method's temporaries (views, scalars, options) live in a
 * pointer scope of that call, so nothing of it is left to the GC.
 */
final class SlotCache implements AutoCloseable {
    private final GPT2Config config;
    private final Gpt2Model model;
    final int slots;
    private final int maxSpan;
    private int capacity;
    private int clock;
    private int shifts;
    private Tensor[] caches;   // layers × {k, v}: [S, H, C, hd]
    private Tensor keyPadding; // [S, C] bool, true = hidden
    final Tensor ids;          // [S, 1] the tokens each slot feeds next
    final Tensor positions;    // [S, 1] each slot's next position (the model's and the hooks')
    final Tensor promptLengths; // [S]
    final Tensor rows;         // [S] 0..S-1
    private final int[] starts;  // each live slot's first column; -1 for a vacant slot
    private Window window;       // what decode steps attend over; null till asked for after a change
    private final NativeArena arena = new NativeArena("slot cache");
    /** The fewest columns a cache has. */
    static final int SMALLEST = 64;

    SlotCache(Gpt2Model model, int slots, int firstSpan) {
        this.model = model;
        this.config = model.config();
        this.slots = slots;
        this.maxSpan = model.maxPositions();
        this.starts = new int[slots];
        java.util.Arrays.fill(starts, -1);
        var device = model.device();
        try (PointerScope temporaries = new PointerScope()) {
            ids = arena.own(Tensors.longs(new long[slots], new long[]{slots, 1}, device));
            positions = arena.own(Tensors.longs(new long[slots], new long[]{slots, 1}, device));
            promptLengths = arena.own(Tensors.longs(new long[slots], new long[]{slots}, device));
            long[] r = new long[slots];
            for (int b = 0; b < slots; b++) r[b] = b;
            rows = arena.own(Tensors.longs(r, new long[]{slots}, device));
        }
        allocate(capacityFor(firstSpan), 0, 0);
    }

    int clock() {
        return clock;
    }

    /**
     * Keys, values and key padding from column {@code first} on, with {@code first} the earliest column a live slot
     * sees: a decode step attends over these, not over the columns before every live request's start (the clock
     * starts at C/2, so those are often most of them). The program writes at {@code clock − first} of the views,
     * which is the clock's column of the cache.
     */
    record Window(int first, IValue keys, IValue values, Tensor keyPadding) {}

    /** The current window; the same object until a slot is placed or vacated or the columns move. */
    Window window() {
        int first = clock;
        for (int start : starts) if (start >= 0) first = Math.min(first, start);
        first = Math.max(first, 0); // a guard: a live request spans at most C/2 columns, so no move cuts it
        if (window != null && window.first == first) return window;
        dropWindow();
        int layers = config.nLayer();
        int width = capacity - first;
        try (PointerScope temporaries = new PointerScope()) {
            Tensor[] k = new Tensor[layers];
            Tensor[] v = new Tensor[layers];
            for (int i = 0; i < layers; i++) {
                k[i] = caches[i].narrow(2, first, width);
                v[i] = caches[layers + i].narrow(2, first, width);
            }
            window = new Window(first, arena.own(Tensors.tensorList(k)), arena.own(Tensors.tensorList(v)),
                    arena.own(keyPadding.narrow(1, first, width)));
        }
        return window;
    }

    private void dropWindow() {
        if (window == null) return;
        arena.free(window.keys());
        arena.free(window.values());
        arena.free(window.keyPadding());
        window = null;
    }

    /** Slot {@code b}'s request is done: its columns no longer hold the window open. */
    void vacate(int b) {
        starts[b] = -1;
    }

    private void moveStarts(int by) {
        for (int b = 0; b < starts.length; b++) if (starts[b] >= 0) starts[b] += by;
    }

    /** Makes room for a request spanning {@code span} columns (prompt + new tokens); true if the cache moved. */
    boolean ensureSpan(int span) {
        if (span <= capacity / 2) return false;
        int old = capacity;
        allocate(capacityFor(span), old / 2, clock);
        return true;
    }

    /** Before a decode step: when the clock reaches the end, the newest half moves to the front. */
    void beforeStep() {
        if (clock < capacity) return;
        int half = capacity / 2;
        try (PointerScope temporaries = new PointerScope()) {
            for (Tensor c : caches) c.narrow(2, 0, half).copy_(c.narrow(2, half, half));
            keyPadding.narrow(1, 0, half).copy_(keyPadding.narrow(1, half, half));
            // columns from the clock on are not written yet: the causal mask hides them
            keyPadding.narrow(1, half, half).fill_(new Scalar(0L));
        }
        clock = half;
        moveStarts(-half);
        dropWindow();
        shifts++;
    }

    /** How many times the newest half moved to the front. */
    int shifts() {
        return shifts;
    }

    int capacity() {
        return capacity;
    }

    /** After a decode step wrote column {@code clock}. */
    void advance() {
        clock++;
    }

    /**
     * Readies slot {@code b} for a prompt of {@code length} tokens placed at {@code [clock − length, clock)}:
     * its key padding shows only those columns and what it writes later; returns the prefill's first column.
     */
    int place(int b, int length) {
        int start = clock - length;
        starts[b] = start;
        try (PointerScope temporaries = new PointerScope()) {
            // Hidden columns are masked by adding a huge negative score, which a NaN or infinity left by an earlier
            // request (an overflowing steering coefficient) would survive: the slot starts from zeros.
            for (Tensor c : caches) c.select(0, b).zero_();
            Tensor row = keyPadding.select(0, b);
            row.fill_(new Scalar(1L));
            row.narrow(0, start, capacity - start).fill_(new Scalar(0L));
            positions.select(0, b).fill_(new Scalar(length));
            promptLengths.select(0, b).fill_(new Scalar(length));
        }
        return start;
    }

    /** Scratch caches for a prefill of {@code rows} prompts of up to {@code width} tokens (past = 0); call inside a scope. */
    Scratch scratch(int rows, int width) {
        Tensor[] t = new Tensor[2 * config.nLayer()];
        for (int i = 0; i < t.length; i++) t[i] = model.newCacheLayer(rows, width);
        Tensor[] k = java.util.Arrays.copyOfRange(t, 0, config.nLayer());
        Tensor[] v = java.util.Arrays.copyOfRange(t, config.nLayer(), t.length);
        return new Scratch(t, Tensors.tensorList(k), Tensors.tensorList(v));
    }

    record Scratch(Tensor[] caches, IValue keys, IValue values) implements AutoCloseable {
        @Override
        public void close() {
            keys.close();
            values.close();
            for (Tensor t : caches) t.close();
        }
    }

    /** Moves row {@code row}'s columns {@code [from, from + length)} of {@code scratch} into slot {@code b} at {@code start}. */
    void store(Scratch scratch, int row, int from, int b, int start, int length) {
        for (int i = 0; i < caches.length; i++) {
            try (Tensor src = scratch.caches()[i].select(0, row); Tensor cols = src.narrow(1, from, length);
                 Tensor dst = caches[i].select(0, b); Tensor into = dst.narrow(1, start, length)) {
                into.copy_(cols);
            }
        }
    }

    private int capacityFor(int span) {
        return capacityFor(span, maxSpan);
    }

    /** The columns a cache gets for a request of {@code span} positions on a model of {@code maxSpan}. */
    static int capacityFor(int span, int maxSpan) {
        int c = SMALLEST;
        while (c / 2 < span && c < 2 * maxSpan) c *= 2;
        return Math.max(c, 2 * Math.min(span, maxSpan));
    }

    /**
     * What the caches of {@code slots} × {@code capacity} columns take on the model's device: keys and values of every
     * layer, and the key padding (one byte per column).
     */
    static long bytes(Gpt2Model model, long slots, long capacity) {
        return MemoryBudget.sum(model.kvCacheBytes(slots, capacity), MemoryBudget.product(slots, capacity));
    }

    /** New caches of {@code newCapacity}; the {@code keep} columns before {@code oldClock} come along. */
    private void allocate(int newCapacity, int keep, int oldClock) {
        int layers = config.nLayer();
        Tensor[] fresh = new Tensor[2 * layers];
        int newClock = newCapacity / 2;
        Tensor padding;
        try (PointerScope temporaries = new PointerScope()) {
            for (int i = 0; i < fresh.length; i++) {
                fresh[i] = arena.own(model.newCacheLayer(slots, newCapacity));
                if (caches != null && keep > 0) {
                    fresh[i].narrow(2, newClock - keep, keep).copy_(caches[i].narrow(2, oldClock - keep, keep));
                }
            }
            padding = arena.own(torch.ones(new long[]{slots, newCapacity},
                    new TensorOptions(torch.ScalarType.Bool).device(new DeviceOptional(model.device()))));
            if (keyPadding != null && keep > 0) {
                padding.narrow(1, newClock - keep, keep).copy_(keyPadding.narrow(1, oldClock - keep, keep));
            }
            // written by the decode steps to come; the causal mask hides them till then
            padding.narrow(1, newClock, newCapacity - newClock).fill_(new Scalar(0L));
        }
        release();
        if (keep > 0) moveStarts(newClock - oldClock);
        caches = fresh;
        keyPadding = padding;
        capacity = newCapacity;
        clock = newClock;
    }

    private void release() {
        dropWindow();
        if (caches != null) for (Tensor t : caches) arena.free(t);
        arena.free(keyPadding);
    }

    @Override
    public void close() {
        arena.close();
    }
}
