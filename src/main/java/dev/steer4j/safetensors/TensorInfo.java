package dev.steer4j.safetensors;

import java.util.Arrays;

/**
 * One tensor entry of a safetensors header. {@code begin}/{@code end} are byte offsets relative
 * to the start of the data section (after the 8-byte length and the JSON header).
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

    public TensorInfo {
        shape = shape.clone();
    }

    /** A defensive copy of the shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements: product of the dims (1 for a 0-d scalar). */
    public long numel() {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** Size of the data in bytes. */
    public long byteLength() {
        return end - begin;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return 31 * (31 * name.hashCode() + dtype.hashCode()) + Arrays.hashCode(shape) + Long.hashCode(begin);
    }

    @Override
    public String toString() {
        return name + " " + dtype.code() + " " + Arrays.toString(shape) + " [" + begin + ", " + end + ")";
    }
}
