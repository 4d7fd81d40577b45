package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.Fixtures;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.request.Positions;
import dev.steer4j.request.Request;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Steer;
import dev.steer4j.runtime.Devices;
import dev.steer4j.session.SteeringSession;
import dev.steer4j.steering.VectorFiles;
import dev.steer4j.steering.io.VectorSet;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `steer4j sweep` on the reference model: its files, its refusals, and its report in a real headless browser. */
class SweepCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path dir;
    static Path out;
    static Cli.Result run;

    @BeforeAll
    static void sweep() throws Exception {
        Fixtures.writeVectors(dir);
        Files.writeString(dir.resolve("concept.txt"), "# the concept\ndog\ncat\n");
        Files.writeString(dir.resolve("opposite.txt"), "France\nthe\n");
        out = dir.resolve("sweep");
        run = Cli.run("sweep", "--model", Cli.convertedModel().toString(), "--vector", dir.resolve("last.safetensors").toString(),
                "--modules", "transformer.h.0-2", "--coefs", "-10,10", "--prompt", Fixtures.PROMPTS[0], "--prompt", Fixtures.PROMPTS[1],
                "--prompt", Fixtures.PROMPTS[2], "--concept-words", dir.resolve("concept.txt").toString(), "--opposite-words",
                dir.resolve("opposite.txt").toString(), "--max-new-tokens", "4", "--out", out.toString(), "--json");
    }

    @Test
    void writesOneLinePerCellASummaryAndItsPlots() throws Exception {
        JsonNode summary = run.okJson();
        assertEquals("steer4j sweep", summary.get("kind").asText());
        for (String f : List.of("cells.jsonl", "summary.json", "concept_heatmap.png", "fluency_heatmap.png", "best_module.png", "report.html")) {
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        }
        assertEquals(summary, JSON.readTree(out.resolve("summary.json").toFile()), "stdout is summary.json");
        List<String> lines = Files.readAllLines(out.resolve("cells.jsonl"));
        assertEquals(3 * 3 * 3, lines.size(), "3 modules × coefficients -10, 0, 10 × 3 prompts");
        for (String l : lines) {
            JsonNode c = JSON.readTree(l);
            assertEquals(4, c.get("new_ids").size());
            assertEquals(4, c.get("token_projections").size());
            assertTrue(c.get("perplexity").asDouble() > 1, l);
            assertEquals(c.get("prompt_index").asInt() % 2 == 0 ? "selection" : "report", c.get("half").asText());
        }
        // the best setting is the selection half's highest score, reported with its score on the other half
        JsonNode best = summary.get("best");
        double top = -1;
        for (JsonNode s : summary.get("settings")) top = Math.max(top, s.get("selection_score").asDouble());
        assertEquals(top, best.get("selection_score").asDouble());
        assertEquals("[0,2]", best.get("selection_prompts").toString());
        assertEquals("[1]", best.get("report_prompts").toString());
        for (String png : List.of("concept_heatmap.png", "fluency_heatmap.png", "best_module.png")) {
            BufferedImage img = ImageIO.read(out.resolve(png).toFile());
            assertTrue(img.getWidth() >= 400 && img.getHeight() >= 120, png);
        }
    }

    @Test
    void reportLoadsInHeadlessChromiumWithNoErrorsNoNetworkAndColoursThatFollowProjections() throws Exception {
        run.okJson();
        Path report = out.resolve("report.html");
        String html = Files.readString(report, StandardCharsets.UTF_8);
        Matcher links = Pattern.compile("(?i)(src|href)\\s*=\\s*\"([^\"]*)\"").matcher(html);
        while (links.find()) assertTrue(links.group(2).startsWith("data:"), "only data: URIs: " + links.group(2));
        assertFalse(html.matches("(?s).*url\\(.*"), "no CSS url()");
        try (HeadlessChromium browser = new HeadlessChromium()) {
            browser.open(report);
            assertEquals(List.of(), browser.problems(), "console errors, warnings or exceptions");
            assertTrue(browser.requests().contains(report.toUri().toString()), "the request log sees the page: " + browser.requests());
            for (String url : browser.requests()) {
                assertTrue(url.startsWith("file:") || url.startsWith("data:"), "a request off the file: " + url);
            }
            JsonNode images = browser.evaluate("[...document.querySelectorAll('img.plot')].map(i => { const r = i.getBoundingClientRect();"
                    + " return [i.complete, i.naturalWidth, r.left + scrollX, r.top + scrollY, r.width, r.height]; })");
            assertEquals(3, images.size(), "three plots");
            BufferedImage shot = ImageIO.read(new ByteArrayInputStream(browser.screenshot()));
            double dpr = shot.getWidth() / browser.evaluate("document.documentElement.scrollWidth").asDouble();
            for (JsonNode img : images) {
                assertTrue(img.get(0).asBoolean() && img.get(1).asInt() > 0, "plot decoded: " + img);
                double variance = lumaVariance(shot, (int) (img.get(2).asDouble() * dpr), (int) (img.get(3).asDouble() * dpr),
                        (int) (img.get(4).asDouble() * dpr), (int) (img.get(5).asDouble() * dpr));
                assertTrue(variance > 100, "the plot is not blank on screen: luma variance " + variance + " at " + img);
            }
            JsonNode tokens = browser.evaluate("[...document.querySelectorAll('.tok')].map(e => [parseFloat(e.dataset.projection),"
                    + " getComputedStyle(e).backgroundColor])");
            assertEquals(3 * 3 * 4, tokens.size(), "coefficients × prompts × tokens at the best module");
            List<double[]> points = new ArrayList<>();
            Pattern rgb = Pattern.compile("rgb\\((\\d+), (\\d+), (\\d+)\\)");
            for (JsonNode t : tokens) {
                Matcher m = rgb.matcher(t.get(1).asText());
                assertTrue(m.matches(), t.toString());
                points.add(new double[]{t.get(0).asDouble(), Integer.parseInt(m.group(1)) - Integer.parseInt(m.group(3))});
            }
            points.sort((a, b) -> Double.compare(a[0], b[0]));
            for (int i = 1; i < points.size(); i++) {
                assertTrue(points.get(i)[1] >= points.get(i - 1)[1], "red minus blue rises with the projection: "
                        + points.get(i - 1)[0] + " → " + points.get(i)[0]);
            }
            assertTrue(points.get(points.size() - 1)[1] > points.get(0)[1], "the colours vary");
        }
    }

    /**
     * A [T, d] vector (vector --reduce none) is added as ActAdd adds it: a steered cell's tokens are its request's
     * run alone with the vector at Positions.ALIGNED, not those of its first row at every position; a prompt of
     * fewer than T tokens is refused before anything is written.
     */
    @Test
    void anAlignedVectorSteersThePromptsFirstPositionsAsThatRequestAlone() throws Exception {
        Path model = Cli.convertedModel();
        Path vector = dir.resolve("aligned.safetensors");
        String module = "transformer.h.1";
        double c = 30;
        int newTokens = 6;
        Path aligned = dir.resolve("sweep-aligned");
        Cli.run("sweep", "--model", model.toString(), "--vector", vector.toString(), "--coefs", String.valueOf(c), "--prompt",
                Fixtures.PROMPTS[0], "--max-new-tokens", String.valueOf(newTokens), "--out", aligned.toString(), "--json").okJson();
        int[] steered = null, plain = null;
        for (String l : Files.readAllLines(aligned.resolve("cells.jsonl"))) {
            JsonNode cell = JSON.readTree(l);
            if (cell.get("coefficient").asDouble() == c) steered = Fixtures.ints(cell.get("new_ids"));
            if (cell.get("coefficient").asDouble() == 0) plain = Fixtures.ints(cell.get("new_ids"));
        }
        VectorSet set = VectorFiles.read(vector);
        float[] rows = set.data(module);
        float[] firstRow = Arrays.copyOf(rows, set.shape(module)[1]);
        assertTrue(set.shape(module)[0] > 1, "a vector of several rows");
        int[] alone, everywhere;
        try (Gpt2Model m = Gpt2Model.load(model, null, Devices.parse("cpu")); SteeringSession s = SteeringSession.open(m)) {
            alone = s.run(List.of(new Request("aligned", Fixtures.PROMPTS[0], List.of(new Steer(module, rows, c, Positions.ALIGNED)),
                    newTokens, Sampling.GREEDY))).get(0).newIds();
            everywhere = s.run(List.of(new Request("all", Fixtures.PROMPTS[0], List.of(new Steer(module, firstRow, c)), newTokens,
                    Sampling.GREEDY))).get(0).newIds();
        }
        assertArrayEquals(alone, steered, "the sweep's cell at c = " + c);
        assertFalse(Arrays.equals(alone, plain), "the steering changes the text: " + Arrays.toString(alone));
        assertFalse(Arrays.equals(alone, everywhere), "aligned differs from the first row at every position: " + Arrays.toString(alone));

        String err = Cli.run("sweep", "--model", model.toString(), "--vector", vector.toString(), "--coefs", "1", "--prompt", "A",
                "--out", dir.resolve("n4").toString()).badInput();
        assertTrue(err.contains("\"A\"") && err.contains(module) && err.contains("only 1 tokens"), err);
        assertFalse(Files.exists(dir.resolve("n4")));
    }

    /** The harness itself: a page that logs an error and asks the network is caught at both. */
    @Test
    void theBrowserHarnessSeesConsoleErrorsAndRequests() throws Exception {
        Path bad = dir.resolve("bad.html");
        Files.writeString(bad, "<!DOCTYPE html><html><body><script>console.error('boom')</script>"
                + "<img src=\"http://127.0.0.1:9/x.png\"></body></html>");
        try (HeadlessChromium browser = new HeadlessChromium()) {
            browser.open(bad);
            assertTrue(browser.problems().stream().anyMatch(p -> p.contains("boom")), browser.problems().toString());
            assertTrue(browser.requests().contains("http://127.0.0.1:9/x.png"), browser.requests().toString());
        }
    }

    private static double lumaVariance(BufferedImage img, int x0, int y0, int w, int h) {
        double sum = 0, sq = 0;
        int n = 0;
        for (int y = Math.max(0, y0); y < Math.min(img.getHeight(), y0 + h); y++) {
            for (int x = Math.max(0, x0); x < Math.min(img.getWidth(), x0 + w); x++) {
                int p = img.getRGB(x, y);
                double l = 0.299 * (p >> 16 & 255) + 0.587 * (p >> 8 & 255) + 0.114 * (p & 255);
                sum += l;
                sq += l * l;
                n++;
            }
        }
        assertTrue(n > 1000, "the plot is on the screenshot");
        return sq / n - (sum / n) * (sum / n);
    }

    @Test
    void refusesAFolderNoSweepWroteAndBadInputInOneLine() throws Exception {
        Path notes = Files.createDirectories(dir.resolve("notes"));
        Files.writeString(notes.resolve("mine.txt"), "keep me");
        String model = Cli.convertedModel().toString();
        String vector = dir.resolve("last.safetensors").toString();
        String err = Cli.run("sweep", "--model", model, "--vector", vector, "--coefs", "1", "--prompt", "a", "--out", notes.toString()).badInput();
        assertTrue(err.contains("no sweep wrote"), err);
        assertEquals("keep me", Files.readString(notes.resolve("mine.txt")));
        assertEquals(1, Files.list(notes).count(), "nothing written");
        err = Cli.run("sweep", "--model", model, "--vector", vector, "--coefs", "1,x", "--prompt", "a", "--out", dir.resolve("n1").toString()).badInput();
        assertTrue(err.contains("--coefs"), err);
        Files.writeString(dir.resolve("long.txt"), "antidisestablishmentarianism\n");
        err = Cli.run("sweep", "--model", model, "--vector", vector, "--coefs", "1", "--prompt", "a", "--concept-words",
                dir.resolve("long.txt").toString(), "--out", dir.resolve("n2").toString()).badInput();
        assertTrue(err.contains("tokens after a space"), err);
        err = Cli.run("sweep", "--model", model, "--vector", vector, "--modules", "transformer.h.7", "--coefs", "1", "--prompt", "a",
                "--out", dir.resolve("n3").toString()).badInput();
        assertTrue(err.contains("transformer.h.7"), err);
        assertFalse(Files.exists(dir.resolve("n1")) || Files.exists(dir.resolve("n2")) || Files.exists(dir.resolve("n3")));
    }
}
