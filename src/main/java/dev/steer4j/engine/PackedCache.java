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
 * The KV cache of the engine's chunked prefill ({@link BatchEngine#tokenBudget}): {@code S} slots × {@code C}
 * columns per layer, preallocated and written in place, plus one spare column. A request's token at position p
 * sits at column p of its slot, so a prompt written over several steps needs no placement and no clock: each
 * token of a packed step names its own (slot, column). The spare column {@code C} takes the throw-away token of
 * a slot with nothing to decode (idle, or still prefilling); nothing ever reads it. {@code C} doubles, up to the
 * model's positions, when a longer request arrives; memory is bounded by slots × (n_positions + 1).
 *
 * <p>What it keeps is owned by its arena; every method's temporaries live in a pointer scope of that call.
 */
final class PackedCache implements AutoCloseable {
    private final GPT2Config config;
    private final Gpt2Model model;
    final int slots;
    private int capacity;
    private Tensor[] caches;   // layers × {k, v}: [S, H, C + 1, hd]
    private IValue kList;
    private IValue vList;
    final Tensor promptLengths; // [S], what positional hooks read
    final Tensor noPadding;     // the root's key_padding argument, unused by a packed step
    final Tensor noChunks;      // [0, 4] on the host: a step without prompt chunks
    private final NativeArena arena = new NativeArena("packed cache");

    PackedCache(Gpt2Model model, int slots, int firstSpan) {
        this.model = model;
        this.config = model.config();
        this.slots = slots;
        try (PointerScope temporaries = new PointerScope()) {
            promptLengths = arena.own(Tensors.longs(new long[slots], new long[]{slots}, model.device()));
            noPadding = arena.own(torch.zeros(new long[]{1, 1},
                    new TensorOptions(torch.ScalarType.Bool).device(new DeviceOptional(model.device()))));
            noChunks = arena.own(torch.zeros(new long[]{0, 4}, new TensorOptions(torch.ScalarType.Long)));
        }
        allocate(capacityFor(firstSpan, model.maxPositions()));
    }

    IValue keys() {
        return kList;
    }

    IValue values() {
        return vList;
    }

    int capacity() {
        return capacity;
    }

    /** The column that throw-away tokens write: past every request's columns, never read. */
    int spare() {
        return capacity;
    }

    /** Makes room for a request of {@code span} positions (prompt + new tokens); a slot's columns keep their place. */
    void ensureSpan(int span) {
        if (span > capacity) allocate(capacityFor(span, model.maxPositions()));
    }

    /**
     * Readies slot {@code b} for a request with a prompt of {@code length} tokens. The slot starts from zeros:
     * a NaN or infinity left by an earlier request (an overflowing steering coefficient) would survive the
     * additive mask of the columns a decode row does not own.
     */
    void admit(int b, int length) {
        try (PointerScope temporaries = new PointerScope()) {
            for (Tensor c : caches) c.select(0, b).zero_();
            promptLengths.select(0, b).fill_(new Scalar(length));
        }
    }

    /** The columns a cache gets for a request of {@code span} positions on a model of {@code maxSpan}. */
    static int capacityFor(int span, int maxSpan) {
        int c = SlotCache.SMALLEST;
        while (c < span && c < maxSpan) c *= 2;
        return Math.max(span, Math.min(c, maxSpan));
    }

    /** What the caches of {@code slots} × {@code capacity} columns (and the spare) take on the model's device. */
    static long bytes(Gpt2Model model, long slots, long capacity) {
        return model.kvCacheBytes(slots, capacity + 1);
    }

    /** New caches of {@code newCapacity} columns; every slot's columns come along at the same place. */
    private void allocate(int newCapacity) {
        int layers = config.nLayer();
        Tensor[] fresh = new Tensor[2 * layers];
        try (PointerScope temporaries = new PointerScope()) {
            for (int i = 0; i < fresh.length; i++) {
                fresh[i] = arena.own(model.newCacheLayer(slots, newCapacity + 1));
                if (caches != null) fresh[i].narrow(2, 0, capacity).copy_(caches[i].narrow(2, 0, capacity));
            }
        }
        if (caches != null) for (Tensor t : caches) arena.free(t);
        arena.free(kList);
        arena.free(vList);
        caches = fresh;
        Tensor[] k = new Tensor[layers];
        Tensor[] v = new Tensor[layers];
        System.arraycopy(caches, 0, k, 0, layers);
        System.arraycopy(caches, layers, v, 0, layers);
        kList = arena.own(Tensors.tensorList(k));
        vList = arena.own(Tensors.tensorList(v));
        capacity = newCapacity;
    }

    @Override
    public void close() {
        arena.close();
    }
}
