package dev.steer4j.sweep;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.InvalidInputException;
import dev.steer4j.io.AtomicFiles;
import dev.steer4j.io.IoErrors;
import dev.steer4j.io.OutputFiles;
import dev.steer4j.metrics.Aggregate;
import dev.steer4j.metrics.CellMetrics;
import dev.steer4j.tokenizer.GPT2Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A sweep's output folder: {@code cells.jsonl} (one line per cell), {@code summary.json} (settings, means, the
 * best cell, timings; its {@code kind} marks the folder as a sweep's), the PNG plots and {@code report.html}.
 * A folder is written into only if it is new, empty, or an earlier sweep's, and only as a whole: the files go to
 * a staging folder beside it, which then takes its place, so a failed write (a full disk) leaves what was there.
 */
public final class SweepFiles {
    public static final String KIND = "steer4j sweep";
    public static final List<String> FILES = List.of("cells.jsonl", "summary.json", "concept_heatmap.png",
            "fluency_heatmap.png", "best_module.png", "report.html");
    static final List<String> METRICS = List.of("concept", "opposite", "projection", "kl", "perplexity", "distinct2");
    private static final ObjectMapper JSON = new ObjectMapper();

    private SweepFiles() {}

    /**
     * Refuses, before any work, an output folder that is a file, or a non-empty folder that no sweep wrote, or
     * whose files would be one of {@code inputs}.
     */
    public static void check(OutputFiles.Named out, List<OutputFiles.Named> inputs) {
        Path dir = out.path();
        for (String f : FILES) OutputFiles.requireDistinct(new OutputFiles.Named(out.label(), dir.resolve(f)), inputs);
        if (!Files.exists(dir)) return;
        if (!Files.isDirectory(dir)) throw new InvalidInputException(out + " exists and is not a folder; give a new path");
        try (Stream<Path> entries = Files.list(dir)) {
            if (entries.findAny().isEmpty()) return;
        } catch (IOException e) {
            throw new InvalidInputException("cannot read " + out + ": " + IoErrors.reason(e), e);
        }
        if (!isSweep(dir)) {
            throw new InvalidInputException(out + " is a folder that no sweep wrote (no summary.json of kind \"" + KIND
                    + "\"), so nothing is written into it; give a new or empty folder");
        }
    }

    private static boolean isSweep(Path dir) {
        Path summary = dir.resolve("summary.json");
        if (!Files.isRegularFile(summary)) return false;
        try {
            JsonNode n = JSON.readTree(summary.toFile());
            return n != null && KIND.equals(n.path("kind").asText());
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Writes every file into a staging folder, then puts it in {@code dir}'s place; {@code meta} (model, vector,
     * words…) goes into summary.json as given. Returns the summary.
     */
    public static Map<String, Object> write(Path dir, Sweep.Outcome o, GPT2Tokenizer tokenizer, Map<String, Object> meta,
                                            String title) {
        Map<String, byte[]> plots = plots(o);
        Map<String, Object> summary = summary(o, meta);
        try {
            AtomicFiles.writeFolder(dir, staging -> {
                StringBuilder lines = new StringBuilder();
                for (SweepCell c : o.cells()) lines.append(JSON.writeValueAsString(cell(c, o, tokenizer))).append('\n');
                text(staging.resolve("cells.jsonl"), lines.toString());
                for (var e : plots.entrySet()) Files.write(staging.resolve(e.getKey()), e.getValue());
                text(staging.resolve("report.html"), SweepReport.html(o, tokenizer, plots, title));
                text(staging.resolve("summary.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(summary) + "\n");
            });
        } catch (IOException e) {
            throw new InvalidInputException("cannot write " + dir + ": " + IoErrors.reason(e), e);
        }
        return summary;
    }

    /** Only the report (demo --report FILE). */
    public static void writeReport(Path file, Sweep.Outcome o, GPT2Tokenizer tokenizer, String title) {
        try {
            String html = SweepReport.html(o, tokenizer, plots(o), title);
            AtomicFiles.write(file, tmp -> text(tmp, html));
        } catch (IOException e) {
            throw new InvalidInputException("cannot write " + file + ": " + IoErrors.reason(e), e);
        }
    }

    private static void text(Path p, String s) throws IOException {
        Files.writeString(p, s, StandardCharsets.UTF_8);
    }

    static Map<String, byte[]> plots(Sweep.Outcome o) {
        SweepPlan plan = o.plan();
        String conceptName = o.conceptWords() ? "concept" : "projection";
        double[][] concept = new double[plan.modules().size()][plan.coefficients().length];
        double[][] ppl = new double[plan.modules().size()][plan.coefficients().length];
        for (int m = 0; m < plan.modules().size(); m++) {
            for (int c = 0; c < plan.coefficients().length; c++) {
                List<SweepCell> cells = o.of(plan.modules().get(m), plan.coefficients()[c]);
                concept[m][c] = mean(cells, conceptName);
                ppl[m][c] = mean(cells, "perplexity");
            }
        }
        Map<String, byte[]> out = new LinkedHashMap<>();
        out.put("concept_heatmap.png", Charts.heatMap((o.conceptWords() ? "Concept score" : "Projection onto the vector")
                + " (mean over prompts)", conceptName, plan.modules(), plan.coefficients(), concept));
        out.put("fluency_heatmap.png", Charts.heatMap("Perplexity under the unsteered model (lower is more fluent)",
                "perplexity", plan.modules(), plan.coefficients(), ppl));
        String best = o.choice().best().module();
        List<Charts.Band> bands = new ArrayList<>();
        for (String metric : o.conceptWords() ? List.of("concept", "opposite") : List.of("projection")) {
            double[][] values = new double[plan.coefficients().length][];
            for (int c = 0; c < values.length; c++) {
                values[c] = o.of(best, plan.coefficients()[c]).stream().mapToDouble(x -> value(x.metrics(), metric)).toArray();
            }
            bands.add(new Charts.Band(metric.equals("concept") ? "concept words" : metric.equals("opposite") ? "opposite words"
                    : "projection", plan.coefficients(), values));
        }
        out.put("best_module.png", Charts.curves("At " + best + ": mean and ±1 s.d. over prompts and samples",
                o.conceptWords() ? "next-token probability" : "projection", bands));
        return out;
    }

    static double value(CellMetrics m, String metric) {
        return switch (metric) {
            case "concept" -> m.concept();
            case "opposite" -> m.opposite();
            case "projection" -> m.projection();
            case "kl" -> m.kl();
            case "perplexity" -> m.perplexity();
            case "distinct2" -> m.distinct2();
            default -> throw new IllegalArgumentException(metric);
        };
    }

    static double mean(List<SweepCell> cells, String metric) {
        return cells.stream().mapToDouble(c -> value(c.metrics(), metric)).average().orElse(Double.NaN);
    }

    private static Object num(double x) {
        return Double.isFinite(x) ? x : null; // JSON has no NaN
    }

    private static Map<String, Object> cell(SweepCell c, Sweep.Outcome o, GPT2Tokenizer tokenizer) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("module", c.module());
        m.put("coefficient", c.coefficient());
        m.put("prompt_index", c.prompt());
        m.put("prompt", c.request().prompt());
        m.put("sample", c.sample());
        if (!c.request().sampling().greedy()) m.put("seed", c.request().sampling().seed());
        m.put("half", Aggregate.inSelection(c.prompt(), o.plan().prompts().size()) ? "selection" : "report");
        m.put("text", c.result().text());
        m.put("new_ids", c.result().newIds());
        List<String> tokens = new ArrayList<>();
        for (int id : c.result().newIds()) tokens.add(tokenizer.decode(new int[]{id}));
        m.put("tokens", tokens);
        m.put("finish_reason", c.result().finishReason().wireName());
        for (String metric : METRICS) m.put(metric, num(value(c.metrics(), metric)));
        m.put("aggregate", num(c.score()));
        m.put("token_projections", c.metrics().tokenProjections());
        return m;
    }

    private static Map<String, Object> summary(Sweep.Outcome o, Map<String, Object> meta) {
        SweepPlan plan = o.plan();
        Aggregate.Choice choice = o.choice();
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("kind", KIND);
        s.putAll(meta);
        s.put("modules", plan.modules());
        s.put("coefficients", plan.coefficients());
        s.put("prompts", plan.prompts());
        s.put("samples", plan.samples());
        s.put("seed", plan.seed());
        if (plan.seed() != null) s.put("temperature", plan.temperature());
        s.put("max_new_tokens", plan.maxNewTokens());
        s.put("aggregate_concept_measure", o.conceptWords() ? "concept" : "projection");
        Map<String, Object> best = new LinkedHashMap<>();
        best.put("module", choice.best().module());
        best.put("coefficient", choice.best().coefficient());
        best.put("selection_score", choice.selectionScore());
        best.put("report_score", choice.reportScore());
        best.put("held_out", choice.heldOut());
        best.put("selection_prompts", halves(plan, true));
        best.put("report_prompts", halves(plan, false));
        List<SweepCell> reported = o.of(choice.best().module(), choice.best().coefficient()).stream()
                .filter(c -> Aggregate.inReport(c.prompt(), plan.prompts().size())).toList();
        Map<String, Object> means = new LinkedHashMap<>();
        for (String metric : METRICS) means.put(metric, num(mean(reported, metric)));
        best.put("report_means", means);
        s.put("best", best);
        List<Map<String, Object>> settings = new ArrayList<>();
        for (String m : plan.modules()) {
            for (double c : plan.coefficients()) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("module", m);
                row.put("coefficient", c);
                for (String metric : METRICS) row.put(metric, num(mean(o.of(m, c), metric)));
                Aggregate.Setting key = new Aggregate.Setting(m, c);
                row.put("selection_score", choice.selection().get(key));
                row.put("report_score", choice.report().get(key));
                settings.add(row);
            }
        }
        s.put("settings", settings);
        Map<String, Object> timing = new LinkedHashMap<>();
        timing.put("generations", o.generations());
        timing.put("new_tokens", o.newTokens());
        timing.put("generate_seconds", o.generateSeconds());
        timing.put("measure_seconds", o.measureSeconds());
        timing.put("engine", o.engine());
        s.put("timing", timing);
        s.put("files", FILES);
        return s;
    }

    private static List<Integer> halves(SweepPlan plan, boolean selection) {
        List<Integer> l = new ArrayList<>();
        for (int p = 0; p < plan.prompts().size(); p++) {
            if (selection ? Aggregate.inSelection(p, plan.prompts().size()) : Aggregate.inReport(p, plan.prompts().size())) l.add(p);
        }
        return l;
    }
}
