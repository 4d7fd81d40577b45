package dev.steer4j.runtime;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;

/**
 * The one owner of a component's long-lived native objects (in the manner of DJL's NDManager): what a model,
 * session or engine keeps across calls is {@link #own owned} here and freed by {@link #close}, never by the GC.
 * Temporaries of one call stay in a {@link PointerScope}; owning something takes it out of any scope the caller
 * has open, so a user who wraps a call in a scope cannot free state the component still uses.
 */
public final class NativeArena implements AutoCloseable {
    private final String owner;
    private final Map<Pointer, Boolean> owned = new IdentityHashMap<>();
    private final List<Pointer> order = new ArrayList<>();
    private boolean closed;

    /** {@code owner} names the component in messages ("steering session", "model"). */
    public NativeArena(String owner) {
        this.owner = owner;
    }

    /** Takes {@code p} into this arena (out of the caller's scopes) and returns it. */
    public synchronized <P extends Pointer> P own(P p) {
        if (closed) {
            p.close();
            throw new IllegalStateException("the " + owner + " is closed");
        }
        detach(p);
        if (owned.put(p, Boolean.TRUE) == null) order.add(p);
        return p;
    }

    /** Frees {@code p} now, if this arena owns it (null is ignored). */
    public synchronized void free(Pointer p) {
        if (p == null || owned.remove(p) == null) return;
        order.remove(p);
        p.close();
    }

    /** Frees {@code old} and owns {@code fresh} in its place. */
    public <P extends Pointer> P replace(P old, P fresh) {
        P kept = own(fresh);
        if (old != fresh) free(old);
        return kept;
    }

    /** How many objects this arena holds (for the leak tests). */
    public synchronized int size() {
        return owned.size();
    }

    /**
     * Takes {@code p} out of every scope open on this thread, for what a method returns to its caller: it is then
     * freed by its owner's {@code close()} alone. JavaCPP's {@code detach} drops a reference whether or not that
     * scope held {@code p}, and frees it at zero: so take enough first, and leave exactly one.
     */
    public static <P extends Pointer> P detach(P p) {
        if (PointerScope.getInnerScope() == null) return p;
        List<PointerScope> scopes = new ArrayList<>();
        for (var it = PointerScope.getScopeIterator(); it != null && it.hasNext(); ) scopes.add(it.next());
        for (int i = 0; i <= scopes.size(); i++) p.retainReference();
        for (PointerScope scope : scopes) scope.detach(p);
        while (p.referenceCount() > 1) p.releaseReference();
        return p;
    }

    /** Frees everything, newest first. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        for (int i = order.size() - 1; i >= 0; i--) order.get(i).close();
        order.clear();
        owned.clear();
    }
}
