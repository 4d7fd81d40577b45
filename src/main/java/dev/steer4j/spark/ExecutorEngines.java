package dev.steer4j.spark;

import dev.steer4j.engine.BatchEngine;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Devices;
import dev.steer4j.session.SteeringSession;
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
        final Gpt2Model model;
        final SteeringSession session;
        final BatchEngine engine;

        Loaded(Key k) {
            model = k.model() == null ? Gpt2Model.embeddedDefault(Devices.parse(k.device()))
                    : Gpt2Model.load(Path.of(k.model()), null, Devices.parse(k.device()));
            session = SteeringSession.open(model);
            engine = session.engine(k.slots());
        }
    }

    private static final Map<Key, Loaded> LOADED = new HashMap<>();
    private static final AtomicInteger LOADS = new AtomicInteger();

    private ExecutorEngines() {}

    /** Runs {@code work} on the engine for this model and device, loading it if this JVM has not yet. */
    static <T> T with(String model, String device, int slots, Function<BatchEngine, T> work) {
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
            return work.apply(loaded.engine);
        }
    }

    /** How many models this JVM has loaded (the tests count them). */
    static int loads() {
        return LOADS.get();
    }
}
