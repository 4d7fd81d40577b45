package dev.steer4j.steering;

import dev.steer4j.InvalidInputException;

/** How an ActAdd prompt pair's activations become a vector: last position, mean over positions, or none. */
public enum Reduce {
    /** {@code act(pos)[-1] − act(neg)[-1]}, unpadded (the GPT-2-XL steering tutorial's recipe). */
    LAST,
    /** The position-wise difference (shorter prompt right-padded), averaged over positions. */
    MEAN,
    /** The position-wise difference {@code [T, d]}, to be added aligned with the prompt (the ActAdd paper). */
    NONE;

    public static Reduce parse(String s) {
        return switch (s) {
            case "last" -> LAST;
            case "mean" -> MEAN;
            case "none" -> NONE;
            default -> throw new InvalidInputException("reduce must be last, mean or none, got '" + s + "'");
        };
    }
}
