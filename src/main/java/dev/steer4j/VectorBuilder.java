package dev.steer4j;

import dev.steer4j.session.SteeringSession;
import dev.steer4j.steering.ActAdd;
import dev.steer4j.steering.Reduce;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * An ActAdd steering vector, built fluently: the activations of {@link #positive} minus those of
 * {@link #negative} at each module of {@link #at}, reduced to the {@link #last()} position (the default) or the
 * {@link #mean()} over positions, optionally {@link #normalized()} to unit norm.
 *
 * <pre>{@code
 * SteeringVector love = model.vector().positive("Love").negative("Hate").at("transformer.h.5").last().normalized().build();
 * }</pre>
 */
public final class VectorBuilder {
    private final Model model;
    private String positive;
    private String negative;
    private final List<String> modules = new ArrayList<>();
    private Reduce reduce = Reduce.LAST;
    private boolean normalized;

    VectorBuilder(Model model) {
        this.model = model;
    }

    /**
     * The prompt whose activations are added.
     *
     * @param prompt a non-empty prompt
     * @return this builder
     * @throws NullPointerException if {@code prompt} is null
     */
    public VectorBuilder positive(String prompt) {
        positive = Objects.requireNonNull(prompt, "prompt");
        return this;
    }

    /**
     * The prompt whose activations are subtracted.
     *
     * @param prompt a non-empty prompt
     * @return this builder
     * @throws NullPointerException if {@code prompt} is null
     */
    public VectorBuilder negative(String prompt) {
        negative = Objects.requireNonNull(prompt, "prompt");
        return this;
    }

    /**
     * A module whose output the vector is read from and later added to (repeatable).
     *
     * @param module a dotted path, such as {@code transformer.h.5}
     * @return this builder
     * @throws NullPointerException if {@code module} is null
     */
    public VectorBuilder at(String module) {
        modules.add(Objects.requireNonNull(module, "module"));
        return this;
    }

    /**
     * The difference at the last position of each prompt (the default).
     *
     * @return this builder
     */
    public VectorBuilder last() {
        reduce = Reduce.LAST;
        return this;
    }

    /**
     * The difference averaged over positions (the shorter prompt padded).
     *
     * @return this builder
     */
    public VectorBuilder mean() {
        reduce = Reduce.MEAN;
        return this;
    }

    /**
     * Scales each module's vector to unit L2 norm.
     *
     * @return this builder
     */
    public VectorBuilder normalized() {
        normalized = true;
        return this;
    }

    /**
     * Runs both prompts through the model and returns the vector.
     *
     * @return the vector, one array per module
     * @throws InvalidInputException if a prompt or module is missing or bad
     * @throws IllegalStateException if the model was closed
     */
    public SteeringVector build() {
        if (positive == null || negative == null) throw new InvalidInputException("a vector needs a positive and a negative prompt");
        if (modules.isEmpty()) throw new InvalidInputException("a vector needs at least one module (at(\"transformer.h.5\"))");
        try (SteeringSession s = SteeringSession.open(model.internal())) {
            return new SteeringVector(ActAdd.vector(s.hooks(), positive, negative, List.copyOf(modules), reduce,
                    ActAdd.DEFAULT_PAD, normalized));
        }
    }
}
