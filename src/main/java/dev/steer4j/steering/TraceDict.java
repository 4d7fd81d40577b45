package dev.steer4j.steering;

import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** baukit's {@code TraceDict}: one {@link Trace} per module, opened and closed together. */
public final class TraceDict implements AutoCloseable {
    private final Map<String, Trace> traces = new LinkedHashMap<>();

    /** {@code editOutput} gives the edit for a module, or null for none. */
    public TraceDict(HookedModel hm, List<String> modules, boolean retainOutput, Function<String, HookOp> editOutput) {
        try {
            for (String m : modules) {
                traces.put(m, new Trace(hm, m, retainOutput, editOutput == null ? null : editOutput.apply(m)));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    public Trace get(String module) {
        return traces.get(module);
    }

    @Override
    public void close() {
        traces.values().forEach(Trace::close);
    }
}
