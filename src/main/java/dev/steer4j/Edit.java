package dev.steer4j;

/**
 * One steering change a {@link Session} made (a vector added at some modules), taken back by {@link #remove()}
 * or by closing its session. Its methods run on the session's thread, like every session call.
 */
public interface Edit extends AutoCloseable {
    /**
     * The coefficient the vector is added with.
     *
     * @return the coefficient
     */
    double coefficient();

    /**
     * Sets the coefficient, in place on the model's device (no recompilation).
     *
     * @param coefficient a finite number
     * @throws InvalidInputException if it is not finite, or overflows the model's dtype
     * @throws IllegalStateException if the session or its model was closed
     */
    void setCoefficient(double coefficient);

    /**
     * Takes the edit back: the session runs as if it had never been made.
     *
     * @throws IllegalStateException if the model was closed
     */
    void remove();

    /** The same as {@link #remove()}. */
    @Override
    default void close() {
        remove();
    }
}
