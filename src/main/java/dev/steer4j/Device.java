package dev.steer4j;

import java.util.Objects;

/**
 * Where a model runs: {@code cpu} or a CUDA device ({@code cuda}, {@code cuda:N}). steer4j's own type, so the
 * API does not depend on the native library's.
 *
 * @param name the device as libtorch spells it
 */
public record Device(String name) {
    /** The CPU. */
    public static final Device CPU = new Device("cpu");

    /**
     * Checks the spelling.
     *
     * @param name {@code cpu}, {@code cuda} or {@code cuda:N}
     * @throws NullPointerException if {@code name} is null
     * @throws InvalidInputException if it is neither {@code cpu} nor {@code cuda[:N]}
     */
    public Device {
        Objects.requireNonNull(name, "name");
        if (!name.equals("cpu") && !name.matches("cuda(:\\d+)?")) {
            throw new InvalidInputException("device must be cpu, cuda or cuda:N, got '" + name + "'");
        }
    }

    /**
     * CUDA device {@code index}.
     *
     * @param index the device's index, from 0
     * @return the device
     * @throws InvalidInputException if {@code index} is negative
     */
    public static Device cuda(int index) {
        if (index < 0) throw new InvalidInputException("a CUDA device index is >= 0, got " + index);
        return new Device("cuda:" + index);
    }

    @Override
    public String toString() {
        return name;
    }
}
