package dev.steer4j.hooks;

/** A host copy of one captured activation: row-major values with their shape. */
public record Activation(long[] shape, float[] values) {
    /** Row {@code b}, position {@code t} of a {@code [B, T, d]} activation. */
    public float[] at(int b, int t) {
        int d = (int) shape[shape.length - 1];
        int T = (int) shape[1];
        float[] out = new float[d];
        System.arraycopy(values, (b * T + t) * d, out, 0, d);
        return out;
    }
}
