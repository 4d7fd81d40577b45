package dev.steer4j.request;

import dev.steer4j.hooks.Positions;

/**
 * One steering entry of a request: {@code coefficient · vector} added to the output of {@code module} at
 * {@code positions}, exactly as {@code --steer FILE*COEF@POSITIONS} does. {@code vector} is {@code [d]}, or
 * {@code [T, d]} row-major for {@link Positions#ALIGNED}. The session copies it; the array is never aliased.
 */
public record Steer(String module, float[] vector, double coefficient, Positions positions) {
    public Steer {
        if (module == null || vector == null || positions == null) {
            throw new NullPointerException("module, vector and positions are required");
        }
    }

    /** At every position. */
    public Steer(String module, float[] vector, double coefficient) {
        this(module, vector, coefficient, Positions.ALL);
    }
}
