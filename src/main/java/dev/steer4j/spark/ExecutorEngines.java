package dev.steer4j.spark;

import dev.steer4j.Device;
import dev.steer4j.Model;
import dev.steer4j.Session;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * One loaded model and engine per executor JVM and device, loaded the first time a task needs it and kept
 * for every later task and partition. Tasks of one executor take turns on its engine (one per GPU).
 */
final class ExecutorEngines {
    private record Key(String model, String device, int slots) {}

    private static final class Loaded {
        final Model model;
        final Session session;

        Loaded(Key k) {
            Device device = new Device(k.device());
            model = k.model() == null ? Model.builtIn(device) : Model.load(Path.of(k.model()), device);
            session = model.session();
            session.prepare(k.slots()); // its engine (and KV cache, once used) stays for every later partition
        }
    }

    private static final Map<Key, Loaded> LOADED = new HashMap<>();
    private static final AtomicInteger LOADS = new AtomicInteger();

    private ExecutorEngines() {}

    /** Runs {@code work} on the session for this model and device, loading it if this JVM has not yet. */
    static <T> T with(String model, String device, int slots, Function<Session, T> work) {
        Key key = new Key(model, device, slots);
        Loaded loaded;
        synchronized (LOADED) {
            loaded = LOADED.get(key);
            if (loaded == null) {
                loaded = new Loaded(key);
                LOADED.put(key, loaded);
                LOADS.incrementAndGet();
            }
        }
        synchronized (loaded) {
            return work.apply(loaded.session);
        }
    }

    /** How many models this JVM has loaded (the tests count them). */
    static int loads() {
        return LOADS.get();
    }
}
