package dev.steer4j.metrics;

/**
 * The judge-free measures of one generated continuation (docs/METRICS.md defines each). A measure without its
 * input (no concept words given) is NaN.
 *
 * @param concept mean over generated positions of the steered next-token probability of the concept words
 * @param opposite the same for the opposite words
 * @param projection mean over generated tokens of their activation's projection onto the unit vector
 * @param kl mean over generated positions of KL(steered ‖ unsteered) of the next-token distribution, nats
 * @param perplexity the continuation's perplexity under the unsteered model
 * @param distinct2 distinct bigrams over bigrams of the continuation
 * @param tokenProjections each generated token's projection (the heat map)
 */
public record CellMetrics(double concept, double opposite, double projection, double kl, double perplexity,
                          double distinct2, float[] tokenProjections) {}
