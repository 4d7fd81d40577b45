package dev.steer4j.request;

import java.util.Objects;

/**
 * One steering entry of a request: {@code coefficient · vector} added to the output of {@code module} at
 * {@code positions}, exactly as {@code --steer FILE*COEF@POSITIONS} does. {@code vector} is {@code [d]}, or
 * {@code [T, d]} row-major for {@link Positions#ALIGNED}. The session copies it; the array is never aliased.
 *
 * @param module the module's dotted path
 * @param vector the values
 * @param coefficient what they are multiplied by
 * @param positions where they are added
 */
public record Steer(String module, float[] vector, double coefficient, Positions positions) {
    /**
     * Checks that nothing is missing.
     *
     * @param module the module's dotted path
     * @param vector the values
     * @param coefficient what they are multiplied by
     * @param positions where they are added
     * @throws NullPointerException naming the argument that is null
     */
    public Steer {
        Objects.requireNonNull(module, "module");
        Objects.requireNonNull(vector, "vector");
        Objects.requireNonNull(positions, "positions");
    }

    /**
     * At every position.
     *
     * @param module the module's dotted path
     * @param vector the values
     * @param coefficient what they are multiplied by
     */
    public Steer(String module, float[] vector, double coefficient) {
        this(module, vector, coefficient, Positions.ALL);
    }
}
