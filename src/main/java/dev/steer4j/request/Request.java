package dev.steer4j.request;

import dev.steer4j.InvalidInputException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * One prompt with its own steering, token limit and sampling. In a batch of requests each row reads only its
 * own steering, so its result equals the request run alone.
 *
 * <pre>{@code
 * Request r = Request.prompt("I think dogs are ").steer(love.times(10)).maxNewTokens(20).sample(0.8, 7).build();
 * }</pre>
 *
 * @param id the caller's name for it, carried to its {@link Result} (may be null)
 * @param prompt the text to continue
 * @param steer its own steering entries (none: unsteered)
 * @param maxNewTokens how many tokens at most (fewer at end of text)
 * @param sampling how each token is chosen
 */
public record Request(String id, String prompt, List<Steer> steer, int maxNewTokens, Sampling sampling) {
    /**
     * Copies the steering list.
     *
     * @param id the caller's name for it (may be null)
     * @param prompt the text to continue
     * @param steer its own steering entries
     * @param maxNewTokens how many tokens at most
     * @param sampling how each token is chosen
     * @throws NullPointerException if {@code prompt}, {@code steer} (or an entry) or {@code sampling} is null
     */
    public Request {
        Objects.requireNonNull(prompt, "prompt");
        steer = List.copyOf(Objects.requireNonNull(steer, "steer"));
        Objects.requireNonNull(sampling, "sampling");
    }

    /**
     * Greedy, unsteered.
     *
     * @param id the caller's name for it
     * @param prompt the text to continue
     * @param maxNewTokens how many tokens at most
     * @return the request
     */
    public static Request of(String id, String prompt, int maxNewTokens) {
        return new Request(id, prompt, List.of(), maxNewTokens, Sampling.GREEDY);
    }

    /**
     * Starts a request continuing {@code prompt}: unsteered, greedy, 20 new tokens until told otherwise.
     *
     * @param prompt the text to continue
     * @return a builder
     * @throws NullPointerException if {@code prompt} is null
     */
    public static Builder prompt(String prompt) {
        return new Builder(Objects.requireNonNull(prompt, "prompt"));
    }

    /** Builds a {@link Request}; every setter returns the builder. */
    public static final class Builder {
        private final String prompt;
        private String id;
        private final List<Steer> steer = new ArrayList<>();
        private int maxNewTokens = 20;
        private Sampling sampling = Sampling.GREEDY;

        private Builder(String prompt) {
            this.prompt = prompt;
        }

        /**
         * The caller's name for the request, carried to its result.
         *
         * @param id any string
         * @return this builder
         */
        public Builder id(String id) {
            this.id = id;
            return this;
        }

        /**
         * Adds steering entries (e.g. {@code vector.times(10)}); repeatable, entries add up.
         *
         * @param entries the entries
         * @return this builder
         * @throws NullPointerException if {@code entries} or one of them is null
         */
        public Builder steer(Collection<Steer> entries) {
            for (Steer s : Objects.requireNonNull(entries, "entries")) steer.add(Objects.requireNonNull(s, "entries contains null"));
            return this;
        }

        /**
         * Adds one steering entry.
         *
         * @param entry the entry
         * @return this builder
         * @throws NullPointerException if {@code entry} is null
         */
        public Builder steer(Steer entry) {
            steer.add(Objects.requireNonNull(entry, "entry"));
            return this;
        }

        /**
         * The most tokens to generate.
         *
         * @param n at least 0
         * @return this builder
         * @throws InvalidInputException if {@code n} is negative
         */
        public Builder maxNewTokens(int n) {
            if (n < 0) throw new InvalidInputException("maxNewTokens must be >= 0, got " + n);
            maxNewTokens = n;
            return this;
        }

        /**
         * Always the most likely token (the default).
         *
         * @return this builder
         */
        public Builder greedy() {
            sampling = Sampling.GREEDY;
            return this;
        }

        /**
         * Samples with {@code temperature} from a random stream seeded by {@code seed} (same seed, same text).
         *
         * @param temperature a positive number
         * @param seed the seed
         * @return this builder
         * @throws InvalidInputException if {@code temperature} is not positive
         */
        public Builder sample(double temperature, long seed) {
            sampling = Sampling.sample(temperature, sampling.greedy() ? 0 : sampling.topK(), sampling.greedy() ? 1.0 : sampling.topP(), seed);
            return this;
        }

        /**
         * Samples only among the {@code k} most likely tokens (after {@link #sample}).
         *
         * @param k at least 1 (0: off)
         * @return this builder
         * @throws InvalidInputException if not sampling, or {@code k} is negative
         */
        public Builder topK(int k) {
            if (sampling.greedy()) throw new InvalidInputException("topK needs sample(temperature, seed) first");
            sampling = Sampling.sample(sampling.temperature(), k, sampling.topP(), sampling.seed());
            return this;
        }

        /**
         * Samples only from the smallest set of tokens whose probability reaches {@code p} (after {@link #sample}).
         *
         * @param p in (0, 1]
         * @return this builder
         * @throws InvalidInputException if not sampling, or {@code p} is out of range
         */
        public Builder topP(double p) {
            if (sampling.greedy()) throw new InvalidInputException("topP needs sample(temperature, seed) first");
            sampling = Sampling.sample(sampling.temperature(), sampling.topK(), p, sampling.seed());
            return this;
        }

        /**
         * The request.
         *
         * @return a new request
         */
        public Request build() {
            return new Request(id, prompt, steer, maxNewTokens, sampling);
        }
    }
}
