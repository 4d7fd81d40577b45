package dev.steer4j.sweep;

import dev.steer4j.metrics.Aggregate;
import dev.steer4j.tokenizer.GPT2Tokenizer;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * report.html: one self-contained page (plots as data: URIs, inline CSS, no script, nothing fetched) with the
 * settings, the best cell, the plots, every setting's scores, and the continuations at the best module for each
 * coefficient, each token coloured by its projection onto the vector ({@code data-projection} holds the value).
 */
final class SweepReport {
    private SweepReport() {}

    static String html(Sweep.Outcome o, GPT2Tokenizer tokenizer, Map<String, byte[]> plots, String title) {
        SweepPlan plan = o.plan();
        Aggregate.Choice choice = o.choice();
        String best = choice.best().module();
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
                .append("<link rel=\"icon\" href=\"data:,\">\n") // no favicon request
                .append("<title>").append(esc(title)).append("</title>\n<style>\n")
                .append("body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}")
                .append("table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}")
                .append("th{background:#f3f3f3}td.t{text-align:left}img{display:block;margin:1em 0;border:1px solid #ddd}")
                .append(".tokens{white-space:pre-wrap;font-family:monospace;line-height:1.8}.tok{padding:1px 0}")
                .append(".prompt{color:#777}.best{background:#fff6d5}\n</style></head><body>\n");
        h.append("<h1>").append(esc(title)).append("</h1>\n");
        h.append("<p>").append(plan.modules().size()).append(" module(s) × ").append(plan.coefficients().length)
                .append(" coefficients × ").append(plan.prompts().size()).append(" prompt(s) × ").append(plan.samples())
                .append(" sample(s) = ").append(o.cells().size()).append(" cells, ").append(o.generations())
                .append(" generations of at most ").append(plan.maxNewTokens()).append(" tokens (")
                .append(plan.seed() == null ? "greedy" : "sampled at temperature " + plan.temperature() + ", seeds from " + plan.seed())
                .append("), run as one continuous batch.</p>\n");
        h.append("<h2>Best cell</h2>\n<p id=\"best\"><b>").append(esc(best)).append(" at coefficient ")
                .append(Charts.number(choice.best().coefficient())).append("</b>: aggregate ")
                .append(f(choice.selectionScore())).append(" on the selection prompts, ")
                .append(f(choice.reportScore())).append(choice.heldOut() ? " on the held-out prompts (reported)" : " (one prompt: nothing held out)")
                .append(". The aggregate is the harmonic mean of the normalized ")
                .append(o.conceptWords() ? "concept score" : "projection").append(" and the fluency (docs/METRICS.md).</p>\n");
        for (var e : plots.entrySet()) {
            h.append("<img class=\"plot\" alt=\"").append(esc(e.getKey())).append("\" src=\"data:image/png;base64,")
                    .append(Base64.getEncoder().encodeToString(e.getValue())).append("\">\n");
        }
        h.append("<h2>Settings</h2>\n<table><tr><th>module</th><th>coefficient</th><th>concept</th><th>opposite</th>")
                .append("<th>projection</th><th>KL</th><th>perplexity</th><th>distinct-2</th><th>aggregate (selection)</th>")
                .append("<th>aggregate (report)</th></tr>\n");
        for (String m : plan.modules()) {
            for (double c : plan.coefficients()) {
                List<SweepCell> cells = o.of(m, c);
                Aggregate.Setting s = new Aggregate.Setting(m, c);
                h.append(s.equals(choice.best()) ? "<tr class=\"best\">" : "<tr>").append("<td class=\"t\">").append(esc(m))
                        .append("</td><td>").append(Charts.number(c)).append("</td>");
                for (String metric : SweepFiles.METRICS) h.append("<td>").append(f(SweepFiles.mean(cells, metric))).append("</td>");
                h.append("<td>").append(f(choice.selection().get(s))).append("</td><td>").append(f(choice.report().get(s)))
                        .append("</td></tr>\n");
            }
        }
        h.append("</table>\n");
        h.append("<h2>Continuations at ").append(esc(best)).append("</h2>\n");
        TokenColours colours = colours(o, best);
        h.append("<p>Each generated token's background is its activation's projection onto the unit vector at ")
                .append(esc(best)).append(" (the unsteered model reading the text): white at the unsteered tokens' mean (")
                .append(f(colours.centre())).append("), red above, blue below, full colour ").append(f(colours.scale()))
                .append(" away. Hover a token for its value.</p>\n");
        for (int p = 0; p < plan.prompts().size(); p++) {
            h.append("<h3>").append(esc(plan.prompts().get(p))).append("</h3>\n<table>\n");
            for (double c : plan.coefficients()) {
                for (SweepCell cell : o.of(best, c)) {
                    if (cell.prompt() != p) continue;
                    h.append("<tr><td>").append(Charts.number(c)).append(plan.samples() > 1 ? " #" + cell.sample() : "")
                            .append("</td><td class=\"t tokens\"><span class=\"prompt\">").append(esc(plan.prompts().get(p)))
                            .append("</span>");
                    int[] ids = cell.result().newIds();
                    float[] proj = cell.metrics().tokenProjections();
                    for (int t = 0; t < ids.length; t++) {
                        h.append("<span class=\"tok\" data-projection=\"").append(proj[t]).append("\" title=\"")
                                .append(f(proj[t])).append("\" style=\"background-color:").append(colours.css(proj[t]))
                                .append("\">").append(esc(tokenizer.decode(new int[]{ids[t]}))).append("</span>");
                    }
                    h.append("</td></tr>\n");
                }
            }
            h.append("</table>\n");
        }
        h.append("</body></html>\n");
        return h.toString();
    }

    /** Centred on the unsteered tokens' mean at {@code module}; scaled by the largest distance from it shown. */
    static TokenColours colours(Sweep.Outcome o, String module) {
        double sum = 0;
        int n = 0;
        for (SweepCell c : o.of(module, 0)) {
            for (float p : c.metrics().tokenProjections()) {
                sum += p;
                n++;
            }
        }
        double centre = n == 0 ? 0 : sum / n;
        double scale = 0;
        for (SweepCell c : o.cells()) {
            if (!c.module().equals(module)) continue;
            for (float p : c.metrics().tokenProjections()) scale = Math.max(scale, Math.abs(p - centre));
        }
        return new TokenColours(centre, scale);
    }

    static String f(double x) {
        if (Double.isNaN(x)) return "–";
        double a = Math.abs(x);
        return a != 0 && (a < 1e-3 || a >= 1e5) ? String.format(Locale.ROOT, "%.3e", x) : String.format(Locale.ROOT, "%.4f", x);
    }

    static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(ch);
            }
        }
        return b.toString();
    }
}
