package dev.steer4j.request;

import dev.steer4j.InvalidInputException;

/**
 * How the next token is chosen: greedy (argmax), or sampling with temperature, top-k and top-p from a
 * seeded generator (same seed, same text).
 *
 * @param greedy argmax, the rest ignored
 * @param temperature a positive number
 * @param topK the most likely tokens sampled among (0: off)
 * @param topP the nucleus mass, in (0, 1]
 * @param seed the random stream's seed
 */
public record Sampling(boolean greedy, double temperature, int topK, double topP, long seed) {
    /** Always the most likely token. */
    public static final Sampling GREEDY = new Sampling(true, 1.0, 0, 1.0, 0);

    /**
     * Checks a sampled setting's ranges.
     *
     * @param greedy argmax, the rest ignored
     * @param temperature a positive number
     * @param topK the most likely tokens sampled among (0: off)
     * @param topP the nucleus mass, in (0, 1]
     * @param seed the random stream's seed
     * @throws InvalidInputException if a value is out of range
     */
    public Sampling {
        if (!greedy) {
            if (!(temperature > 0) || Double.isInfinite(temperature)) {
                throw new InvalidInputException("temperature must be a positive number, got " + temperature);
            }
            if (topK < 0) {
                throw new InvalidInputException("top-k must be >= 0 (0 = off), got " + topK);
            }
            if (!(topP > 0 && topP <= 1)) {
                throw new InvalidInputException("top-p must be in (0, 1], got " + topP);
            }
        }
    }

    /**
     * Sampling with these settings.
     *
     * @param temperature a positive number
     * @param topK the most likely tokens sampled among (0: off)
     * @param topP the nucleus mass, in (0, 1]
     * @param seed the random stream's seed
     * @return the setting
     * @throws InvalidInputException if a value is out of range
     */
    public static Sampling sample(double temperature, int topK, double topP, long seed) {
        return new Sampling(false, temperature, topK, topP, seed);
    }
}
