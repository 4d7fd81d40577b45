package dev.steer4j.sweep;

import dev.steer4j.metrics.CellMetrics;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;

/**
 * One cell of a sweep: its setting, prompt and sample, the request that ran it, what it generated and its metrics.
 * The unsteered cells of one prompt and sample share one generation (steering at coefficient 0 is no steering).
 *
 * @param score its aggregate score (normalized on the selection half), filled once every cell is measured
 */
public record SweepCell(String module, double coefficient, int prompt, int sample, Request request, Result result,
                        CellMetrics metrics, double score) {
    public SweepCell withScore(double s) {
        return new SweepCell(module, coefficient, prompt, sample, request, result, metrics, s);
    }
}
