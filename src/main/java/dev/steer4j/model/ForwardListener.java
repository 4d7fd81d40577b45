package dev.steer4j.model;

import org.bytedeco.pytorch.Tensor;

/**
 * Told, just before each forward pass, which batch rows and absolute positions it covers, so that
 * in-graph hooks can choose where to act. Positions count from each row's first real token; pads are -1.
 */
public interface ForwardListener {
    /** Checked before any work: may reject prompts the hooks can't serve (a clear error, not a crash). */
    default void check(int[][] prompts) {}

    /** Once per generation: each row's real prompt length, {@code [B]} on the model's device. */
    void onStart(Tensor promptLengths);

    /** Before each forward: {@code rows [Bc]} (indices into the batch) and {@code positions [Bc, T]}. */
    void onForward(Tensor rows, Tensor positions);

    ForwardListener NONE = new ForwardListener() {
        @Override public void onStart(Tensor promptLengths) {}
        @Override public void onForward(Tensor rows, Tensor positions) {}
    };
}
