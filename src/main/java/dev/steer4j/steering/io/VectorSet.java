package dev.steer4j.steering.io;

import dev.steer4j.InvalidInputException;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.DoubleUnaryOperator;

/**
 * An immutable, ordered set of named steering vectors: module path (e.g. {@code transformer.h.5})
 * to float data of shape {@code [d]} (one vector) or {@code [T, d]} (position-aligned vectors),
 * plus string metadata. All entries share the width {@code d}, because they steer one model.
 */
public final class VectorSet {
    private record Entry(int[] shape, float[] data) {
    }

    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private VectorSet(Map<String, Entry> entries, Map<String, String> metadata) {
        this.entries = Collections.unmodifiableMap(entries);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Module names in insertion order. */
    public List<String> names() {
        return List.copyOf(entries.keySet());
    }

    public int size() {
        return entries.size();
    }

    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    /** {@code [d]} or {@code [T, d]}; a copy. */
    public int[] shape(String name) {
        return entry(name).shape.clone();
    }

    /** Row-major data; a copy. */
    public float[] data(String name) {
        return entry(name).data.clone();
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /** The shared last dimension; throws IllegalStateException on an empty set. */
    public int width() {
        if (entries.isEmpty()) {
            throw new IllegalStateException("an empty vector set has no width");
        }
        int[] s = entries.values().iterator().next().shape;
        return s[s.length - 1];
    }

    /**
     * Sum over the union of names (this set's order first); a name in both must have the same
     * shape. The result keeps this set's metadata, since a sum has no single origin to record.
     */
    public VectorSet plus(VectorSet other) {
        Builder b = builder().metadata(metadata);
        entries.forEach((name, e) -> {
            Entry o = other.entries.get(name);
            if (o == null) {
                b.put(name, e.shape, e.data);
                return;
            }
            if (!Arrays.equals(e.shape, o.shape)) {
                throw new InvalidInputException("cannot add vector sets: " + name + " has shape "
                        + Arrays.toString(e.shape) + " in one and " + Arrays.toString(o.shape) + " in the other");
            }
            float[] sum = new float[e.data.length];
            for (int i = 0; i < sum.length; i++) {
                sum[i] = e.data[i] + o.data[i];
            }
            b.put(name, e.shape, sum);
        });
        other.entries.forEach((name, o) -> {
            if (!entries.containsKey(name)) {
                b.put(name, o.shape, o.data);
            }
        });
        return b.build();
    }

    /** Every element times {@code factor} (computed in double, rounded once to float). */
    public VectorSet scale(double factor) {
        return map(x -> x * factor);
    }

    public VectorSet negate() {
        return map(x -> -x);
    }

    private VectorSet map(DoubleUnaryOperator f) {
        Builder b = builder().metadata(metadata);
        entries.forEach((name, e) -> {
            float[] out = new float[e.data.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = (float) f.applyAsDouble(e.data[i]);
            }
            b.put(name, e.shape, out);
        });
        return b.build();
    }

    private Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new InvalidInputException("no steering vector for module " + name);
        }
        return e;
    }

    /** Same names in the same order, same shapes, bit-identical data and equal metadata. */
    @Override
    public boolean equals(Object o) {
        if (!(o instanceof VectorSet v) || !metadata.equals(v.metadata)
                || !List.copyOf(entries.keySet()).equals(List.copyOf(v.entries.keySet()))) {
            return false;
        }
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            Entry w = v.entries.get(e.getKey());
            if (!Arrays.equals(e.getValue().shape, w.shape) || !Arrays.equals(e.getValue().data, w.data)) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        int h = metadata.hashCode();
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            h = 31 * h + e.getKey().hashCode();
            h = 31 * h + Arrays.hashCode(e.getValue().shape);
            h = 31 * h + Arrays.hashCode(e.getValue().data);
        }
        return h;
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("VectorSet{");
        entries.forEach((n, e) -> s.append(n).append(Arrays.toString(e.shape)).append(", "));
        if (!entries.isEmpty()) {
            s.setLength(s.length() - 2);
        }
        return s.append(", metadata=").append(metadata).append('}').toString();
    }

    /** Collects entries; {@link #build()} checks shapes, sizes and the shared width. */
    public static final class Builder {
        private final Map<String, Entry> entries = new LinkedHashMap<>();
        private final Map<String, String> metadata = new LinkedHashMap<>();

        private Builder() {
        }

        /** A single vector, shape {@code [data.length]}. */
        public Builder put(String name, float[] data) {
            return put(name, new int[] {data.length}, data);
        }

        /** Shape {@code [d]} or {@code [T, d]}; data is row-major and copied. Replaces an earlier entry. */
        public Builder put(String name, int[] shape, float[] data) {
            if (name == null || name.isBlank()) {
                throw new InvalidInputException("steering vector name is empty");
            }
            Objects.requireNonNull(data, "data");
            if (shape.length != 1 && shape.length != 2) {
                throw new InvalidInputException("steering vector " + name + " has rank " + shape.length
                        + " (shape " + Arrays.toString(shape) + "); expected [d] or [T, d]");
            }
            long numel = 1;
            for (int d : shape) {
                if (d <= 0) {
                    throw new InvalidInputException("steering vector " + name + " has a non-positive dimension in "
                            + Arrays.toString(shape));
                }
                numel *= d;
            }
            if (numel != data.length) {
                throw new InvalidInputException("steering vector " + name + ": shape " + Arrays.toString(shape)
                        + " needs " + numel + " values, got " + data.length);
            }
            entries.put(name, new Entry(shape.clone(), data.clone()));
            return this;
        }

        public Builder meta(String key, String value) {
            metadata.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
            return this;
        }

        public Builder metadata(Map<String, String> all) {
            all.forEach(this::meta);
            return this;
        }

        public VectorSet build() {
            String first = null;
            int width = -1;
            for (Map.Entry<String, Entry> e : entries.entrySet()) {
                int[] s = e.getValue().shape;
                int w = s[s.length - 1];
                if (first == null) {
                    first = e.getKey();
                    width = w;
                } else if (w != width) {
                    throw new InvalidInputException("steering vectors differ in width: " + first + " has "
                            + width + ", " + e.getKey() + " has " + w);
                }
            }
            return new VectorSet(new LinkedHashMap<>(entries), new LinkedHashMap<>(metadata));
        }
    }
}
