package dev.steer4j.hooks;

import org.bytedeco.pytorch.Tensor;

/**
 * What a hook does to the activation it sees, as TorchScript run inside the graph on tensors that stay on
 * the model's device. Vectors are {@code [d]} (one for all), {@code [B, d]} (one per batch row) or, with
 * {@link Positions#ALIGNED}, {@code [T, d]} (row p at position p).
 */
public sealed interface HookOp permits HookOp.Add, HookOp.Ablate, HookOp.NormPreservingAdd, HookOp.Capture {

    /** {@code x + coeff · v} at the chosen positions. */
    record Add(Tensor vector, double coefficient, Positions positions, boolean perRow) implements HookOp {}

    /** Directional ablation {@code x − (x·d̂)d̂} at the chosen positions. */
    record Ablate(Tensor direction, Positions positions, boolean perRow) implements HookOp {}

    /** {@code x + coeff · v}, rescaled to keep each position's L2 norm. */
    record NormPreservingAdd(Tensor vector, double coefficient, Positions positions, boolean perRow) implements HookOp {}

    /** Hands the activation back to Java for the prefill and each decode step. */
    record Capture() implements HookOp {}
}
