package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `demo` measures its own runs (docs/METRICS.md) and writes the sweep report of them with --report. */
class DemoMeasuresTest {
    @Test
    void everyRunCarriesItsMeasuredChangeAndTheReportIsWritten(@TempDir Path dir) throws Exception {
        Path report = dir.resolve("demo.html");
        JsonNode demo = Cli.run("demo", "--model", Cli.convertedModel().toString(), "--json", "--report", report.toString()).okJson();
        for (JsonNode p : demo.get("prompts")) {
            JsonNode plain = p.get("runs").get(0).get("metrics");
            assertEquals(1.0, plain.get("love_vs_unsteered").asDouble(), 1e-12, "unsteered against itself");
            assertEquals(0.0, plain.get("kl").asDouble());
            for (JsonNode r : p.get("runs")) {
                JsonNode m = r.get("metrics");
                assertEquals(m.get("love_words").asDouble() / plain.get("love_words").asDouble(), m.get("love_vs_unsteered").asDouble(), 1e-12);
                assertEquals(m.get("perplexity").asDouble() / plain.get("perplexity").asDouble(),
                        m.get("perplexity_vs_unsteered").asDouble(), 1e-12);
                assertTrue(m.get("perplexity").asDouble() > 1 && m.get("love_words").asDouble() > 0, r.toString());
            }
        }
        String html = Files.readString(report);
        assertTrue(html.startsWith("<!DOCTYPE html>"));
        assertEquals(3, html.split("data:image/png;base64,", -1).length - 1, "three plots");
        assertEquals(3 * 3 * 10, html.split("class=\"tok\"", -1).length - 1, "every token of every run in the heat map");
        // a rerun may replace its own report, never someone else's file
        assertEquals(0, Cli.run("demo", "--model", Cli.convertedModel().toString(), "--report", report.toString()).code());
        Path notes = Files.writeString(dir.resolve("notes.html"), "<html>mine</html>");
        String err = Cli.run("demo", "--model", Cli.convertedModel().toString(), "--report", notes.toString()).badInput();
        assertTrue(err.contains("--report"), err);
        assertEquals("<html>mine</html>", Files.readString(notes));
    }
}
