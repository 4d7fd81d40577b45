package dev.steer4j;

/**
 * Where one continuous-batching run spent its forward passes.
 *
 * @param prefills requests prefilled
 * @param prefillSeconds seconds in prefills
 * @param decodeSteps decode steps (one token for every running request each)
 * @param decodeSeconds seconds in decode steps
 * @param modelFlops the model's FLOPs on the requests' tokens (every weight matrix, attention over each token's own
 *     positions, the logits sampled from; no padding, no idle slot)
 */
public record RunStats(long prefills, double prefillSeconds, long decodeSteps, double decodeSeconds, double modelFlops) {
    /**
     * The model FLOPs per second of forward passes.
     *
     * @return GFLOP/s over prefill and decode seconds (0 before any)
     */
    public double achievedGflops() {
        double s = prefillSeconds + decodeSeconds;
        return s > 0 ? modelFlops / s / 1e9 : 0;
    }
}
