package dev.steer4j.session;

/**
 * A steering edit registered on a session: an add, ablation or bias edit on one module (or on each module of
 * a vector set). Changing it is an in-place update on the device; closing it takes back this edit only.
 */
public interface Edit extends AutoCloseable {
    double coefficient();

    /** Scales the edit's vector by {@code coefficient} from the next forward pass on. */
    void setCoefficient(double coefficient);

    /** Replaces the vector (one module's edit only); the array is copied. */
    void setVector(float[] vector);

    /** Takes the edit out: the next forward runs as if it had never been added. */
    void remove();

    @Override
    default void close() {
        remove();
    }
}
