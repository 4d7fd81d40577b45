package dev.steer4j.steering;

import dev.steer4j.hooks.Activation;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import java.util.List;

/**
 * baukit's {@code Trace} as a scope: inside it, a module's output is retained and/or edited; closing it
 * takes the hooks out. The edit is a declarative {@link HookOp} run in the graph, not a Java callback.
 */
public final class Trace implements AutoCloseable {
    private final HookHandle edit;
    private final HookHandle retain;

    public Trace(HookedModel hm, String module, boolean retainOutput, HookOp editOutput) {
        // the edit goes first so the retained output is the edited one, as in baukit
        edit = editOutput == null ? null : HookPoints.hook(hm, module, editOutput);
        retain = retainOutput ? HookPoints.hook(hm, module, new HookOp.Store()) : null;
    }

    /** The retained output of the latest forward pass. */
    public Activation output() {
        if (retain == null) throw new IllegalStateException("this Trace was made without retainOutput");
        List<Activation> seen = retain.captured();
        return seen.isEmpty() ? null : seen.get(seen.size() - 1);
    }

    @Override
    public void close() {
        if (retain != null) retain.remove();
        if (edit != null) edit.remove();
    }
}
