package dev.steer4j.metrics;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One number per steering setting in AxBench's manner, and the best setting chosen honestly. A cell's score is the
 * harmonic mean of its normalized concept score and its normalized fluency (0 if either is 0), so a setting that
 * moves the concept by wrecking the text, or keeps the text by not moving the concept, scores low:
 * <ul>
 *   <li>concept: the cell's rise over the unsteered cell of the same prompt and sample, divided by the largest
 *       rise among the selection half's cells, clamped to [0, 1];</li>
 *   <li>fluency: the unsteered cell's perplexity over the cell's, capped at 1.</li>
 * </ul>
 * A setting's score on a set of prompts is the mean of its cells' scores there. The best setting is the one with
 * the highest score on the selection half of the prompts (even indices: 0, 2, …) and is reported with its score on
 * the other half (odd indices), which played no part in choosing it. With one prompt there is no other half: both
 * are that prompt, and {@link Choice#heldOut()} says so.
 */
public final class Aggregate {
    private Aggregate() {}

    /** A steering setting: where and how strongly. */
    public record Setting(String module, double coefficient) {}

    /**
     * What the aggregate reads of one cell: its setting and prompt, its concept measure and perplexity, and those
     * of the unsteered cell of the same prompt and sample (its baseline).
     */
    public record Cell(Setting setting, int prompt, double concept, double baselineConcept, double perplexity,
                       double baselinePerplexity) {}

    /**
     * The choice.
     *
     * @param best the setting chosen on the selection half
     * @param selection each setting's score on the selection half, in the cells' order
     * @param report each setting's score on the report half
     * @param heldOut whether the report half is other prompts than the selection half
     * @param maxRise the concept rise that normalizes to 1 (the selection half's largest)
     */
    public record Choice(Setting best, Map<Setting, Double> selection, Map<Setting, Double> report, boolean heldOut,
                         double maxRise) {
        public double selectionScore() {
            return selection.get(best);
        }

        public double reportScore() {
            return report.get(best);
        }
    }

    /** 2ab / (a + b); 0 if either is 0. */
    public static double harmonicMean(double a, double b) {
        return a <= 0 || b <= 0 ? 0 : 2 * a * b / (a + b);
    }

    /** The normalized concept score of a cell, given the rise that counts as 1. */
    public static double normalizedConcept(Cell c, double maxRise) {
        double rise = c.concept() - c.baselineConcept();
        return maxRise <= 0 || !(rise > 0) ? 0 : Math.min(1, rise / maxRise);
    }

    /** The unsteered perplexity over the cell's, at most 1 (a cell more fluent than unsteered is not rewarded). */
    public static double normalizedFluency(Cell c) {
        return c.perplexity() > 0 ? Math.min(1, c.baselinePerplexity() / c.perplexity()) : 0;
    }

    public static double score(Cell c, double maxRise) {
        return harmonicMean(normalizedConcept(c, maxRise), normalizedFluency(c));
    }

    public static boolean inSelection(int prompt, int prompts) {
        return prompts < 2 || prompt % 2 == 0;
    }

    public static boolean inReport(int prompt, int prompts) {
        return prompts < 2 || prompt % 2 == 1;
    }

    /** Chooses the best setting among {@code cells} of {@code prompts} prompts (ties: the first in the cells' order). */
    public static Choice choose(List<Cell> cells, int prompts) {
        if (cells.isEmpty()) throw new IllegalArgumentException("no cells");
        double maxRise = 0;
        for (Cell c : cells) {
            if (inSelection(c.prompt(), prompts)) maxRise = Math.max(maxRise, c.concept() - c.baselineConcept());
        }
        Map<Setting, Double> selection = means(cells, prompts, maxRise, true);
        Map<Setting, Double> report = means(cells, prompts, maxRise, false);
        Setting best = null;
        for (var e : selection.entrySet()) {
            if (best == null || e.getValue() > selection.get(best)) best = e.getKey();
        }
        return new Choice(best, selection, report, prompts >= 2, maxRise);
    }

    private static Map<Setting, Double> means(List<Cell> cells, int prompts, double maxRise, boolean selection) {
        Map<Setting, List<Double>> scores = new LinkedHashMap<>();
        for (Cell c : cells) {
            boolean in = selection ? inSelection(c.prompt(), prompts) : inReport(c.prompt(), prompts);
            List<Double> l = scores.computeIfAbsent(c.setting(), s -> new ArrayList<>());
            if (in) l.add(score(c, maxRise));
        }
        Map<Setting, Double> out = new LinkedHashMap<>();
        for (var e : scores.entrySet()) {
            out.put(e.getKey(), e.getValue().stream().mapToDouble(Double::doubleValue).average().orElse(0));
        }
        return out;
    }
}
