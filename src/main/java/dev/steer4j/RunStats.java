package dev.steer4j;

/**
 * Where one continuous-batching run spent its forward passes.
 *
 * @param prefills requests prefilled
 * @param prefillSeconds seconds in prefills
 * @param decodeSteps decode steps (one token for every running request each)
 * @param decodeSeconds seconds in decode steps
 */
public record RunStats(long prefills, double prefillSeconds, long decodeSteps, double decodeSeconds) {}
