package dev.steer4j.generate;

import dev.steer4j.InvalidInputException;
/**
 * How the next token is chosen: greedy (argmax), or sampling with temperature, top-k and top-p from a
 * seeded generator (same seed, same text).
 */
public record Sampling(boolean greedy, double temperature, int topK, double topP, long seed) {
    public static final Sampling GREEDY = new Sampling(true, 1.0, 0, 1.0, 0);

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

    public static Sampling sample(double temperature, int topK, double topP, long seed) {
        return new Sampling(false, temperature, topK, topP, seed);
    }
}
