package example;

import dev.steer4j.*;
import dev.steer4j.request.*;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** README's "From Java" snippet, in a project that has steer4j only as a dependency. */
class ReadmeSnippetTest {
    @Test
    void readmeSnippetRuns() throws Exception {
        String jar = Model.class.getProtectionDomain().getCodeSource().getLocation().getPath();
        assertTrue(jar.endsWith(".jar") && jar.contains("/dev/steer4j/steer4j/"), "steer4j comes from the local repository: " + jar);
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        PrintStream stdout = System.out;
        System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
        try {
            snippet();
        } finally {
            System.setOut(stdout);
        }
        List<String> lines = printed.toString(StandardCharsets.UTF_8).lines().toList();
        stdout.println(String.join("\n", lines));
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(lines.get(0).startsWith("plus: ") && lines.get(1).startsWith("minus: "), lines.toString());
        assertTrue(!lines.get(0).substring(6).equals(lines.get(1).substring(7)), "the two directions differ: " + lines);
    }

    // BEGIN README snippet (dev.steer4j.docs.ConsumerProjectTest checks it is README's text)
    static void snippet() {
try (Model model = Model.builtIn();                  // or Model.load(Path.of("gpt2-xl.pt"))
     Session session = model.session()) {            // one per thread; the weights are shared
    SteeringVector love = model.vector().positive(" love").negative(" hate").at("transformer.h.2").last().normalized().build();
    List<Result> out = session.run(List.of(          // one batch; every request its own steering
            Request.prompt("I think dogs are ").id("plus").steer(love.times(32)).maxNewTokens(10).build(),
            Request.prompt("I think dogs are ").id("minus").steer(love.times(-32)).maxNewTokens(10).build()));
    out.forEach(r -> System.out.println(r.id() + ": " + r.text()));
}
    }
    // END README snippet
}
