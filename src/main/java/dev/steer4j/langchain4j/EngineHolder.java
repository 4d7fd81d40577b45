package dev.steer4j.langchain4j;

import dev.steer4j.Device;
import dev.steer4j.Engine;
import dev.steer4j.Model;
import dev.steer4j.Session;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The engine that a built model and its steered views share: its session, the model when loaded from a path, and
 * the threads that hand streamed text to langchain4j's handlers (the engine's own thread never runs user code).
 */
final class EngineHolder implements AutoCloseable {
    final Engine engine;
    final ExecutorService delivery;
    private final Session session;
    private final Model owned; // null: the caller's model

    private EngineHolder(Engine engine, Session session, Model owned) {
        this.engine = engine;
        this.session = session;
        this.owned = owned;
        this.delivery = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "steer4j-langchain4j");
            t.setDaemon(true);
            return t;
        });
    }

    static EngineHolder open(Path file, Device device, Model shared, int slots, int maxQueue) {
        Model model = shared != null ? shared : Model.load(file, device);
        try {
            Session session = model.session();
            try {
                return new EngineHolder(session.engine(slots, maxQueue), session, shared == null ? model : null);
            } catch (RuntimeException e) {
                session.close();
                throw e;
            }
        } catch (RuntimeException e) {
            if (shared == null) model.close();
            throw e;
        }
    }

    @Override
    public void close() {
        engine.close();
        delivery.shutdownNow();
        session.close();
        if (owned != null) owned.close();
    }
}
