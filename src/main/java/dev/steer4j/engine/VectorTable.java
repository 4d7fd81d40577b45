package dev.steer4j.engine;

import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The distinct steering vectors a session has seen, each stored once on the model's device. {@code [d]}
 * vectors are rows of one matrix (row 0 is zeros, for rows without an entry), so a batch's per-row deltas
 * are one {@code index_select} and one multiply on the device. Equal contents share a row.
 */
public final class VectorTable implements AutoCloseable {
    private final Gpt2Model model;
    private final Map<Key, Integer> rowOf = new HashMap<>();
    private final List<float[]> pending = new ArrayList<>();
    private final dev.steer4j.runtime.NativeArena arena = new dev.steer4j.runtime.NativeArena("vector table");
    private Tensor rows; // [1 + K, d] in the model's dtype
    private int count = 1;

    public VectorTable(Gpt2Model model) {
        this.model = model;
    }

    /** The row holding {@code vector} ({@code [d]}), added if new. */
    public int row(float[] vector) {
        return rowOf.computeIfAbsent(new Key(vector), k -> {
            pending.add(vector.clone());
            return count++;
        });
    }

    /**
     * {@code coefficients[b] · table[index[b]]} for each batch row b, {@code [B, d]} in float32 on the device
     * (the product is rounded once, when the hook stores it in the model's dtype, as for a single hook).
     */
    public Tensor scaledRows(long[] index, float[] coefficients) {
        flush();
        var device = model.device();
        try (Tensor idx = Tensors.longs(index, new long[]{index.length}, device);
             Tensor picked = rows.index_select(0, idx);
             Tensor c = Tensors.floats(coefficients, new long[]{coefficients.length, 1}, device,
                     torch.ScalarType.Float)) {
            return picked.mul(c);
        }
    }

    /** Uploads the vectors added since the last call: one copy per new vector, never per step. */
    private void flush() {
        if (pending.isEmpty() && rows != null) return;
        int d = model.width();
        float[] added = new float[pending.size() * d];
        for (int i = 0; i < pending.size(); i++) System.arraycopy(pending.get(i), 0, added, i * d, d);
        long old = rows == null ? 1 : rows.size(0); // row 0 stays zeros
        Tensor grown;
        try (org.bytedeco.pytorch.DeviceOptional on = new org.bytedeco.pytorch.DeviceOptional(model.device());
             org.bytedeco.pytorch.TensorOptions typed = new org.bytedeco.pytorch.TensorOptions(model.dtype());
             org.bytedeco.pytorch.TensorOptions options = typed.device(on)) {
            grown = torch.zeros(new long[]{old + pending.size(), d}, options);
        }
        try (Tensor fresh = Tensors.floats(added, new long[]{pending.size(), d}, model.device(), model.dtype());
             Tensor tail = grown.narrow(0, old, pending.size())) {
            tail.copy_(fresh);
        }
        if (rows != null) {
            try (Tensor head = grown.narrow(0, 0, old)) {
                head.copy_(rows);
            }
            arena.free(rows);
        }
        rows = arena.own(grown); // kept across calls: out of any scope the caller has open
        pending.clear();
    }

    @Override
    public void close() {
        arena.close();
        rows = null;
        rowOf.clear();
        pending.clear();
        count = 1;
    }

    /** Vector contents as a map key. */
    private record Key(float[] values) {
        @Override public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(values, k.values);
        }

        @Override public int hashCode() {
            return Arrays.hashCode(values);
        }
    }
}
