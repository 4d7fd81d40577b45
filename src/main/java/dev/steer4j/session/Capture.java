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

    Capture(HookHandle hook, int limit, Runnable onRemove) {
        this.hook = hook;
        this.limit = limit;
        this.onRemove = onRemove;
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
        return hook.captured();
    }

    /** The newest activation, or null before the first forward pass. */
    public Activation last() {
        List<Activation> newest = hook.captured(1);
        return newest.isEmpty() ? null : newest.get(0);
    }

    public void clear() {
        hook.clearCaptured();
    }

    public void remove() {
        hook.remove();
        onRemove.run();
    }

    @Override
    public void close() {
        remove();
    }
}
