package dev.steer4j.hooks;

import java.util.List;

/**
 * A registered hook. {@link #remove()} (or try-with-resources) takes it out; the next forward runs the
 * graph as it was without it. Changing the coefficient or vector updates device tensors in place.
 */
public interface HookHandle extends AutoCloseable {
    String module();

    /** Sets the coefficient of an add hook; the vector stays. */
    void setCoefficient(double coefficient);

    /** Replaces the vector (same rank rules as when registered). */
    void setVector(float[] values, long... shape);

    /** Replaces the vector with a copy of {@code values}, converted to the model's device and dtype. */
    void setVector(org.bytedeco.pytorch.Tensor values);

    /** Replaces row {@code row} of a per-row hook's vector ({@code [B, …]}) with a copy of {@code values}, in place. */
    void setVectorRow(int row, org.bytedeco.pytorch.Tensor values);

    /** What a capture hook saw: one tensor per forward pass (prefill, then each decode step), {@code [B, T, …]}. */
    List<Activation> captured();

    /** The newest {@code n} of {@link #captured()}, oldest first: only those are copied to the host. */
    List<Activation> captured(int n);

    /** Forgets what a capture hook has seen so far. */
    void clearCaptured();

    void remove();

    @Override
    default void close() {
        remove();
    }
}
