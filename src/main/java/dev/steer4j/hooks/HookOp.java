package dev.steer4j.hooks;

import dev.steer4j.InvalidInputException;
import org.bytedeco.pytorch.Tensor;

/**
 * What a hook does to the activation it sees, as TorchScript run inside the graph on tensors that stay on
 * the model's device. Vectors are {@code [d]} (one for all), {@code [B, d]} (one per batch row) or, with
 * {@link Positions#ALIGNED}, {@code [T, d]} (row p at position p).
 */
public sealed interface HookOp permits HookOp.Edit, HookOp.Capture {

    /** An op that edits the activation with a vector, at some positions. */
    sealed interface Edit extends HookOp permits Add, Ablate, NormPreservingAdd {
        Tensor vector();

        double coefficient();

        Positions positions();

        boolean perRow();
    }

    /** {@code x + coeff · v} at the chosen positions. */
    record Add(Tensor vector, double coefficient, Positions positions, boolean perRow) implements Edit {}

    /** Directional ablation {@code x − (x·d̂)d̂} at the chosen positions. */
    record Ablate(Tensor direction, Positions positions, boolean perRow) implements Edit {
        @Override public Tensor vector() { return direction; }

        @Override public double coefficient() { return 1.0; }
    }

    /** {@code x + coeff · v}, rescaled to keep each position's L2 norm. */
    record NormPreservingAdd(Tensor vector, double coefficient, Positions positions, boolean perRow) implements Edit {}

    /**
     * Keeps the activation of each forward pass (the prefill, then each decode step) on the device, the
     * newest {@code history} of them: older ones are dropped inside the graph, so memory stays bounded.
     */
    record Capture(int history) implements HookOp {
        /** Enough for a prefill and a few hundred decode steps. */
        public static final int DEFAULT_HISTORY = 512;

        public Capture {
            if (history < 1) throw new InvalidInputException("a capture keeps at least 1 activation, got " + history);
        }

        public Capture() {
            this(DEFAULT_HISTORY);
        }
    }
}
