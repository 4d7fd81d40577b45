package dev.steer4j.steering;

import dev.steer4j.hooks.Activation;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.request.Positions;
import dev.steer4j.runtime.Tensors;
import java.util.List;

/**
 * A module wrapped for steering, the way one wraps {@code transformer.h.5} in PyTorch: it records its last
 * output and adds a steering vector to its output when one is set.
 */
public final class SteerableModule implements AutoCloseable {
    private final HookedModel hm;
    private final String module;
    private final HookHandle tap;
    private HookHandle steering;

    public SteerableModule(HookedModel hm, String module) {
        this.hm = hm;
        this.module = module;
        this.tap = hm.hookOutput(module, new HookOp.Store());
    }

    /** The output of the most recent forward pass, or null before the first. */
    public Activation lastOutput() {
        List<Activation> seen = tap.captured();
        return seen.isEmpty() ? null : seen.get(seen.size() - 1);
    }

    /** Adds {@code coefficient · vector} to the output at every position from now on. */
    public void setSteeringVector(float[] vector, double coefficient) {
        if (steering != null) {
            steering.setVector(vector, vector.length);
            steering.setCoefficient(coefficient);
            return;
        }
        steering = hm.hookOutput(module, new HookOp.Add(
                Tensors.floats(vector, new long[]{vector.length}, hm.model().device(), hm.model().dtype()),
                coefficient, Positions.ALL, false));
    }

    public void clearSteeringVector() {
        if (steering != null) steering.remove();
        steering = null;
    }

    @Override
    public void close() {
        clearSteeringVector();
        tap.remove();
    }
}
