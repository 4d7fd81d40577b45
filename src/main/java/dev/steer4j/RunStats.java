package dev.steer4j;

/**
 * Where one continuous-batching run spent its forward passes.
 *
 * @param prefills requests whose prompt went in
 * @param prefillSeconds seconds in forward passes that decode no request (with chunked prefill: steps of prompt
 *     chunks alone)
 * @param decodeSteps decode steps (one token for every running request each; with chunked prefill, also the prompt
 *     chunks the budget leaves room for)
 * @param decodeSeconds seconds in decode steps
 * @param modelFlops the model's FLOPs on the requests' tokens (every weight matrix, attention over each token's own
 *     positions, the logits sampled from; no padding, no idle slot)
 * @param tokenBudget the most tokens one step fed the model, or 0 when prompts were prefilled apart
 */
public record RunStats(long prefills, double prefillSeconds, long decodeSteps, double decodeSeconds, double modelFlops,
                       int tokenBudget) {
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
