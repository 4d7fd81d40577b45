package dev.steer4j.hooks;

import dev.steer4j.request.Positions;
import dev.steer4j.InvalidInputException;
import org.bytedeco.pytorch.Tensor;

/**
 * What a hook does to the activation it sees, as TorchScript run inside the graph on tensors that stay on
 * the model's device. Vectors are {@code [d]} (one for all), {@code [B, d]} (one per batch row) or, with
 * {@link Positions#ALIGNED}, {@code [T, d]} (row p at position p).
 */
public sealed interface HookOp permits HookOp.VectorOp, HookOp.Store {

    /** An op that edits the activation with a vector, at some positions. */
    sealed interface VectorOp extends HookOp permits Add, Ablate, NormPreservingAdd {
        Tensor vector();

        double coefficient();

        Positions positions();

        boolean perRow();
    }

    /** {@code x + coeff · v} at the chosen positions. */
    record Add(Tensor vector, double coefficient, Positions positions, boolean perRow) implements VectorOp {}

    /** Directional ablation {@code x − (x·d̂)d̂} at the chosen positions. */
    record Ablate(Tensor direction, Positions positions, boolean perRow) implements VectorOp {
        @Override public Tensor vector() { return direction; }

        @Override public double coefficient() { return 1.0; }
    }

    /** {@code x + coeff · v}, rescaled to keep each position's L2 norm. */
    record NormPreservingAdd(Tensor vector, double coefficient, Positions positions, boolean perRow) implements VectorOp {}

    /**
     * Keeps the activation of each forward pass (the prefill, then each decode step) on the device, the
     * newest {@code history} of them: older ones are dropped inside the graph, so memory stays bounded.
     */
    record Store(int history) implements HookOp {
        /** Enough for a prefill and a few hundred decode steps. */
        public static final int DEFAULT_HISTORY = 512;

        public Store {
            if (history < 1) throw new InvalidInputException("a capture keeps at least 1 activation, got " + history);
        }

        public Store() {
            this(DEFAULT_HISTORY);
        }
    }
}
