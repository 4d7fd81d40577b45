package dev.steer4j.docs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.Edit;
import dev.steer4j.Fixtures;
import dev.steer4j.Model;
import dev.steer4j.Session;
import dev.steer4j.SteeringVector;
import dev.steer4j.cli.Main;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** README's "From Java": the exact text compiles and runs, and the v1 API agrees with the reference fixtures. */
class ReadmeExampleTest {
    /** The first java block under "## From Java", split into its import lines and the statements after them. */
    static List<String> snippet() throws Exception {
        return snippet(0);
    }

    /** Java block {@code n} (from 0) under "## From Java": its import lines and statements (the first block's imports). */
    static List<String> snippet(int n) throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        int section = readme.indexOf("## From Java");
        int start = readme.indexOf("```java\n", section) + "```java\n".length();
        for (int i = 0; i < n; i++) start = readme.indexOf("```java\n", readme.indexOf("```", start) + 3) + "```java\n".length();
        if (n > 0) {
            String block = readme.substring(start, readme.indexOf("```", start));
            return List.of(snippet(0).get(0), block);
        }
        String code = readme.substring(start, readme.indexOf("```", start));
        StringBuilder imports = new StringBuilder();
        StringBuilder body = new StringBuilder();
        for (String line : code.lines().toList()) (line.startsWith("import ") ? imports : body).append(line).append('\n');
        return List.of(imports.toString(), body.toString());
    }

    @Test
    void readmeSnippetCompilesAndRunsAsWritten(@TempDir Path dir) throws Exception {
        List<String> parts = snippet();
        assertTrue(parts.get(0).lines().count() + parts.get(1).strip().lines().count() <= 12,
                "about a dozen lines with the imports:\n" + parts);
        String printed = compileAndRun(dir, "ReadmeSnippet", parts);
        Map<String, String> texts = new HashMap<>();
        for (String line : printed.lines().toList()) {
            texts.put(line.substring(0, line.indexOf(": ")), line.substring(line.indexOf(": ") + 2));
        }
        // Per-request steering with love.times(±32) equals what `demo` prints for ±32 (the built-in model's demo
        // coefficient): the same vector added by a session edit at every position, a different path through the session.
        Map<Double, String> demo = demoTexts("I think dogs are ");
        assertEquals(demo.get(32.0), texts.get("plus"), "plus: " + printed);
        assertEquals(demo.get(-32.0), texts.get("minus"), "minus: " + printed);
        assertTrue(!demo.get(32.0).equals(demo.get(-32.0)), "the two directions differ");
    }

    /** Compiles {@code parts} (imports, statements) as the main method of {@code name} and runs it; what it printed. */
    private String compileAndRun(Path dir, String name, List<String> parts) throws Exception {
        Path source = dir.resolve(name + ".java");
        Files.writeString(source, parts.get(0) + "public class " + name + " {\n    public static void main(String[] args) throws Exception {\n"
                + parts.get(1) + "    }\n}\n");
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int rc = javac.run(null, diagnostics, diagnostics, "-classpath", System.getProperty("java.class.path"), "-d", dir.toString(),
                source.toString());
        assertEquals(0, rc, diagnostics.toString());
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        PrintStream stdout = System.out;
        try (URLClassLoader loader = new URLClassLoader(new URL[]{dir.toUri().toURL()}, getClass().getClassLoader())) {
            System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
            loader.loadClass(name).getMethod("main", String[].class).invoke(null, (Object) new String[0]);
        } finally {
            System.setOut(stdout);
        }
        return printed.toString(StandardCharsets.UTF_8);
    }

    /** README's engine snippet: the streamed text is the request's own greedy continuation, then its finish reason. */
    @Test
    void readmeEngineSnippetStreamsTheSameTextAsARunAlone(@TempDir Path dir) throws Exception {
        String printed = compileAndRun(dir, "ReadmeEngine", snippet(1));
        Result alone;
        try (Model model = Model.builtIn(); Session session = model.session()) {
            alone = session.generate("I think dogs are ", 10);
        }
        assertEquals(alone.text() + "|" + alone.finishReason() + "\n", printed);
    }

    private static Map<Double, String> demoTexts(String prompt) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)) {
            assertEquals(0, Main.run(new String[]{"demo", "--json"}, o, e));
        }
        Map<Double, String> texts = new HashMap<>();
        for (JsonNode p : new ObjectMapper().readTree(out.toString(StandardCharsets.UTF_8)).get("prompts")) {
            if (!p.get("prompt").asText().equals(prompt)) continue;
            for (JsonNode r : p.get("runs")) texts.put(r.get("coefficient").asDouble(), r.get("text").asText());
        }
        return texts;
    }

    /** The seed experiment through the v1 API on the tiny reference model, against the reference's greedy runs. */
    @Test
    void v1ApiReproducesTheReferenceSteeredRuns(@TempDir Path dir) {
        String block = "transformer.h.1";
        int[] steeredIds = Fixtures.ints(Fixtures.expected("greedy.json").get("steered_last_token_unit_every_position_c10")
                .get("new_ids"));
        int[] plainIds = java.util.Arrays.copyOf(Fixtures.ints(Fixtures.expected("greedy.json").get("unsteered").get("new_ids")), 12);
        Path file = dir.resolve("tiny.pt");
        Fixtures.saveConverted(file);
        try (Model model = Model.load(file); Session session = model.session()) {
            // the reference vector: "Love" - "Hate", last token, unit norm (ActAdd's right-padding with token 220)
            SteeringVector love = model.vector().positive("Love").negative("Hate").at(block).last().normalized().build();
            Edit edit = session.add(love, 10);
            assertArrayEquals(steeredIds, session.generate("I think dogs are ", 12).newIds());
            edit.setCoefficient(-10);
            int[] negative = session.generate("I think dogs are ", 12).newIds();
            edit.remove();
            assertArrayEquals(plainIds, session.generate("I think dogs are ", 12).newIds());

            List<Result> sweep = session.run(List.of(
                    Request.prompt("I think dogs are ").id("plus").steer(love.times(10)).maxNewTokens(12).build(),
                    Request.prompt("I think dogs are ").id("minus").steer(love.times(-10)).maxNewTokens(12).build(),
                    Request.prompt("I think dogs are ").id("plain").maxNewTokens(12).build()));
            assertEquals(List.of("plus", "minus", "plain"), new ArrayList<>(sweep.stream().map(Result::id).toList()));
            assertArrayEquals(steeredIds, sweep.get(0).newIds());
            assertArrayEquals(negative, sweep.get(1).newIds());
            assertArrayEquals(plainIds, sweep.get(2).newIds());
        }
    }

    /** The API's contracts: null arguments name the parameter, bad values say what, use after close says what closed. */
    @Test
    void contractsAtTheApisEdge(@TempDir Path dir) {
        NullPointerException npe = assertThrows(NullPointerException.class, () -> Model.load(null));
        assertEquals("file", npe.getMessage());
        assertEquals("prompt", assertThrows(NullPointerException.class, () -> Request.prompt(null)).getMessage());
        assertThrows(dev.steer4j.InvalidInputException.class, () -> Request.prompt("x").maxNewTokens(-1));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> new dev.steer4j.Device("tpu"));
        var missing = assertThrows(dev.steer4j.InvalidInputException.class, () -> Model.load(dir.resolve("nope.pt")));
        assertTrue(missing.getMessage().contains("nope.pt"), missing.getMessage());

        Path file = dir.resolve("tiny.pt");
        Fixtures.saveConverted(file);
        Model model = Model.load(file);
        Session session = model.session();
        SteeringVector love = model.vector().positive("Love").negative("Hate").at("transformer.h.1").build();
        assertEquals("vector", assertThrows(NullPointerException.class, () -> session.add(null, 1)).getMessage());
        var nan = assertThrows(dev.steer4j.InvalidInputException.class, () -> session.add(love, Double.NaN));
        assertTrue(nan.getMessage().contains("finite"), nan.getMessage());
        var noModule = assertThrows(dev.steer4j.InvalidInputException.class,
                () -> model.vector().positive("a").negative("b").at("transformer.h.99").build());
        assertTrue(noModule.getMessage().contains("transformer.h.99"), noModule.getMessage());
        Edit edit = session.add(love, 1);
        session.close();
        var closedSession = assertThrows(IllegalStateException.class, () -> session.generate("x", 1));
        assertTrue(closedSession.getMessage().contains("session is closed"), closedSession.getMessage());
        model.close();
        var closedModel = assertThrows(IllegalStateException.class, model::session);
        assertTrue(closedModel.getMessage().contains("model is closed"), closedModel.getMessage());
        var closedEdit = assertThrows(IllegalStateException.class, () -> edit.setCoefficient(2));
        assertTrue(closedEdit.getMessage().contains("closed"), closedEdit.getMessage());
    }
}
