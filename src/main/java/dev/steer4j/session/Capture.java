package dev.steer4j.session;

import dev.steer4j.hooks.Activation;
import dev.steer4j.hooks.HookHandle;
import java.util.List;

/**
 * What a module output during the session's forward passes: one {@code [B, T, d]} activation per pass (the
 * prefill, then each decode step), the newest {@link #limit()} of them, kept on the model's device until read.
 */
public final class Capture implements AutoCloseable {
    private final HookHandle hook;
    private final int limit;
    private final Runnable onRemove;
    private final java.util.function.Supplier<dev.steer4j.model.Gpt2Model.Use> session;

    Capture(HookHandle hook, int limit, Runnable onRemove, java.util.function.Supplier<dev.steer4j.model.Gpt2Model.Use> session) {
        this.hook = hook;
        this.limit = limit;
        this.onRemove = onRemove;
        this.session = session;
    }

    public String module() {
        return hook.module();
    }

    /** How many forward passes are kept; older ones are dropped. */
    public int limit() {
        return limit;
    }

    /** Host copies of the kept activations, oldest first. */
    public List<Activation> history() {
        try (var call = session.get()) {
            return hook.captured();
        }
    }

    /** The newest activation, or null before the first forward pass. */
    public Activation last() {
        List<Activation> newest;
        try (var call = session.get()) {
            newest = hook.captured(1);
        }
        return newest.isEmpty() ? null : newest.get(0);
    }

    public void clear() {
        try (var call = session.get()) {
            hook.clearCaptured();
        }
    }

    /** Takes the capture out (nothing to do once its session has closed: that removed it). */
    public void remove() {
        onRemove.run();
    }

    @Override
    public void close() {
        remove();
    }
}
