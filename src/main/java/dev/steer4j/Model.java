package dev.steer4j;

import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Devices;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A loaded GPT-2: steer4j's own {@code .pt} (from {@code steer4j convert}), or the small built-in model. Its
 * weights are shared by every {@link Session} on it; closing it closes them and frees its native memory at once.
 * Safe to use from many threads, each with its own session.
 *
 * <pre>{@code
 * try (Model model = Model.load(Path.of("gpt2-xl.pt")); Session session = model.session()) { ... }
 * }</pre>
 */
public final class Model implements AutoCloseable {
    private final Gpt2Model model;
    private final Device device;
    private final java.util.Set<Session> sessions = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private Model(Gpt2Model model, Device device) {
        this.model = model;
        this.device = device;
    }

    /**
     * Loads a {@code .pt} onto the CPU.
     *
     * @param file steer4j's archive (config and tokenizer inside)
     * @return the model; close it when done
     * @throws NullPointerException if {@code file} is null
     * @throws InvalidInputException if it is missing, damaged or not a GPT-2 archive (the message says which)
     */
    public static Model load(Path file) {
        return load(file, Device.CPU);
    }

    /**
     * Loads a {@code .pt} onto {@code device}.
     *
     * @param file steer4j's archive (config and tokenizer inside)
     * @param device where it runs
     * @return the model; close it when done
     * @throws NullPointerException if an argument is null
     * @throws InvalidInputException if the file is missing, damaged or not a GPT-2 archive, or the device is absent
     */
    public static Model load(Path file, Device device) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(device, "device");
        return new Model(Gpt2Model.load(file, null, Devices.parse(device.name())), device);
    }

    /**
     * The small GPT-2 shipped inside steer4j (docs/DEFAULT_MODEL.md), on the CPU.
     *
     * @return the model; close it when done
     */
    public static Model builtIn() {
        return builtIn(Device.CPU);
    }

    /**
     * The small GPT-2 shipped inside steer4j (docs/DEFAULT_MODEL.md), on {@code device}.
     *
     * @param device where it runs
     * @return the model; close it when done
     * @throws NullPointerException if {@code device} is null
     * @throws InvalidInputException if the device is absent
     */
    public static Model builtIn(Device device) {
        Objects.requireNonNull(device, "device");
        return new Model(Gpt2Model.embeddedDefault(Devices.parse(device.name())), device);
    }

    /**
     * A new session: its own steering over the shared weights. One thread at a time uses it.
     *
     * @return the session; close it when done (closing the model closes it too)
     * @throws IllegalStateException if this model was closed
     */
    public Session session() {
        Session s = new Session(this);
        sessions.add(s);
        return s;
    }

    /** A session closed by its user no longer needs closing with the model. */
    void forget(Session s) {
        sessions.remove(s);
    }

    /**
     * Starts an ActAdd vector: the difference of the activations of two prompts.
     *
     * @return a builder; {@link VectorBuilder#build()} computes the vector
     */
    public VectorBuilder vector() {
        return new VectorBuilder(this);
    }

    /**
     * The residual stream's width (d).
     *
     * @return d
     */
    public int width() {
        return model.width();
    }

    /**
     * The number of transformer blocks: {@code transformer.h.0} … {@code transformer.h.(layers-1)}.
     *
     * @return the block count
     */
    public int layers() {
        return model.layers();
    }

    /**
     * The longest sequence (prompt and new tokens) the model takes.
     *
     * @return its positions
     */
    public int maxPositions() {
        return model.maxPositions();
    }

    /**
     * Where it runs.
     *
     * @return its device
     */
    public Device device() {
        return device;
    }

    /**
     * The float type of its weights.
     *
     * @return the dtype
     */
    public DType dtype() {
        return switch (model.dtype()) {
            case Half -> DType.FLOAT16;
            case BFloat16 -> DType.BFLOAT16;
            default -> DType.FLOAT32;
        };
    }

    /**
     * Closes every session on it, then frees its weights; later use is an IllegalStateException. Calls in flight
     * on other threads fail at their next step; this waits for them.
     */
    @Override
    public void close() {
        model.close(); // waits for calls in flight (engine threads included), then undoes every session's steering
        for (Session s : sessions) s.close(); // then the sessions' engines and KV caches, idle now
    }

    Gpt2Model internal() {
        return model;
    }
}
