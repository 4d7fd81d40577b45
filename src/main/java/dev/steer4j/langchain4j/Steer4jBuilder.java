package dev.steer4j.langchain4j;

import dev.steer4j.Device;
import dev.steer4j.Model;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Steer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * What both langchain4j models are built from: a model (a {@code .pt} to load, or a {@link Model} already
 * loaded and shared), the device, the engine's size, sampling defaults and the default steering. Every setter
 * returns the builder.
 *
 * @param <B> the builder's own type
 * @param <M> what it builds
 */
public abstract class Steer4jBuilder<B extends Steer4jBuilder<B, M>, M> {
    Path modelPath;
    Model model;
    Device device = Device.CPU;
    int maxNewTokens = 64;
    Double temperature; // null: greedy
    double topP = 1.0;
    long seed;
    final List<Steer> steer = new ArrayList<>();
    int slots = 8;
    int maxQueue = 256;

    Steer4jBuilder() {}

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /** A steer4j {@code .pt} to load (closed with the built model). */
    public B modelPath(Path file) {
        this.modelPath = Objects.requireNonNull(file, "file");
        return self();
    }

    /** A model already loaded, shared with the caller, who closes it (after the built model). */
    public B model(Model loaded) {
        this.model = Objects.requireNonNull(loaded, "loaded");
        return self();
    }

    /** Where a {@link #modelPath} model runs (default CPU). */
    public B device(Device where) {
        this.device = Objects.requireNonNull(where, "where");
        return self();
    }

    /** Tokens per call at most (default 64). */
    public B maxNewTokens(int n) {
        this.maxNewTokens = n;
        return self();
    }

    /** Sampling temperature; 0 or never set: greedy. */
    public B temperature(double t) {
        this.temperature = t;
        return self();
    }

    /** Nucleus mass when sampling (default 1.0: off). */
    public B topP(double p) {
        this.topP = p;
        return self();
    }

    /** The seed of each call's sampling (default 0: the same call draws the same text). */
    public B seed(long s) {
        this.seed = s;
        return self();
    }

    /** The default steering of every call (added to any given before). */
    public B steer(Collection<Steer> entries) {
        steer.addAll(entries);
        return self();
    }

    /** One default steering entry (added to any given before). */
    public B steer(Steer entry) {
        steer.add(Objects.requireNonNull(entry, "entry"));
        return self();
    }

    /** Calls decoded together at most (the engine's slots; default 8). */
    public B slots(int n) {
        this.slots = n;
        return self();
    }

    /** Calls waiting at most (default 256); more fail with a QueueFullException. */
    public B maxQueue(int n) {
        this.maxQueue = n;
        return self();
    }

    /** Builds it: loads the model if a path was given, and starts its engine. */
    public abstract M build();

    Sampling sampling() {
        return temperature == null || temperature == 0 ? Sampling.GREEDY : Sampling.sample(temperature, 0, topP, seed);
    }

    EngineHolder holder() {
        if ((modelPath == null) == (model == null)) throw new IllegalStateException("give exactly one of modelPath and model");
        return EngineHolder.open(modelPath, device, model, slots, maxQueue);
    }
}
