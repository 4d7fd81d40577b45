package dev.steer4j;

import dev.steer4j.request.Positions;
import dev.steer4j.request.Steer;
import dev.steer4j.steering.VectorFiles;
import dev.steer4j.steering.io.VectorSet;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A steering vector: one {@code [d]} (or, unreduced, {@code [T, d]}) array per module it is added at. Made by
 * {@link Model#vector()}, read from a file ({@link #read}: safetensors or a GGUF control vector), written by
 * {@link #write}. Immutable; arrays handed out are copies.
 */
public final class SteeringVector {
    private final VectorSet set;

    SteeringVector(VectorSet set) {
        this.set = set;
    }

    /**
     * Reads a vector file: safetensors (one tensor per module path) or a llama.cpp / repeng GGUF control vector.
     *
     * @param file the file
     * @return its vectors
     * @throws NullPointerException if {@code file} is null
     * @throws InvalidInputException if it cannot be read or is not a vector file
     */
    public static SteeringVector read(Path file) {
        Objects.requireNonNull(file, "file");
        return new SteeringVector(VectorFiles.read(file));
    }

    /**
     * Writes these vectors as safetensors, atomically.
     *
     * @param file where to write
     * @throws NullPointerException if {@code file} is null
     * @throws InvalidInputException if it cannot be written
     */
    public void write(Path file) {
        Objects.requireNonNull(file, "file");
        VectorFiles.write(file, set, null);
    }

    /**
     * The modules this vector is added at, as dotted paths ({@code transformer.h.5}).
     *
     * @return the module paths, in order
     */
    public List<String> modules() {
        return set.names();
    }

    /**
     * The values for one module.
     *
     * @param module one of {@link #modules()}
     * @return a copy of its values, row-major
     * @throws NullPointerException if {@code module} is null
     * @throws InvalidInputException if this vector has no such module
     */
    public float[] values(String module) {
        Objects.requireNonNull(module, "module");
        if (!set.contains(module)) throw new InvalidInputException("this vector has no module '" + module + "' (it has " + modules() + ")");
        return set.data(module).clone();
    }

    /**
     * This vector times {@code coefficient} at every position: what a {@link dev.steer4j.request.Request} steers with.
     *
     * @param coefficient a finite number
     * @return one entry per module
     */
    public List<Steer> times(double coefficient) {
        return times(coefficient, Positions.ALL);
    }

    /**
     * This vector times {@code coefficient} at {@code where}.
     *
     * @param coefficient a finite number
     * @param where the positions it acts at
     * @return one entry per module
     * @throws NullPointerException if {@code where} is null
     * @throws InvalidInputException if {@code coefficient} is not finite
     */
    public List<Steer> times(double coefficient, Positions where) {
        Objects.requireNonNull(where, "where");
        if (!Double.isFinite(coefficient)) throw new InvalidInputException("coefficient must be a finite number, got " + coefficient);
        List<Steer> out = new ArrayList<>();
        for (String m : set.names()) out.add(new Steer(m, set.data(m), coefficient, where));
        return out;
    }

    VectorSet set() {
        return set;
    }

    @Override
    public String toString() {
        return "SteeringVector" + modules();
    }
}
