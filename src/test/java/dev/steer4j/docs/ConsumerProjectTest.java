package dev.steer4j.docs;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A separate Maven project (src/it/consumer) that depends on steer4j by its coordinates runs README's snippet: the
 * jar this build made (the build packs it before the tests) is installed into the local repository as
 * {@code mvn install} would, with this pom, and the consumer resolves everything else through the pom's
 * dependency declarations, offline.
 */
class ConsumerProjectTest {
    static final Path CONSUMER = Path.of("src/it/consumer");

    @Test
    void theConsumersSnippetIsReadmesText() throws Exception {
        String consumer = Files.readString(CONSUMER.resolve("src/test/java/example/ReadmeSnippetTest.java"));
        Matcher m = Pattern.compile("static void snippet\\(\\) \\{\n(.*?)    }\n    // END README snippet", Pattern.DOTALL).matcher(consumer);
        assertTrue(m.find(), "the consumer's snippet block");
        assertEquals(ReadmeExampleTest.snippet().get(1).strip(), m.group(1).strip());
        String imports = ReadmeExampleTest.snippet().get(0);
        for (String line : imports.lines().toList()) assertTrue(consumer.contains(line + "\n"), "the consumer imports " + line);
    }

    @Test
    void aProjectDependingOnTheInstalledArtifactRunsReadmesSnippet(@TempDir Path dir) throws Exception {
        String version = projectVersion();
        Path repo = Path.of(System.getProperty("maven.repo.local", System.getProperty("user.home") + "/.m2/repository"));
        Path jar = Path.of("target/steer4j.jar");
        assertTrue(Files.isRegularFile(jar), "the build packs target/steer4j.jar before the tests (pom.xml: default-jar)");
        Path installed = repo.resolve("dev/steer4j/steer4j/" + version);
        Files.createDirectories(installed);
        Files.copy(jar, installed.resolve("steer4j-" + version + ".jar"), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(Path.of("pom.xml"), installed.resolve("steer4j-" + version + ".pom"), StandardCopyOption.REPLACE_EXISTING);

        Path project = dir.resolve("consumer");
        try (Stream<Path> files = Files.walk(CONSUMER)) {
            for (Path f : files.toList()) {
                Path to = project.resolve(CONSUMER.relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(to);
                else Files.copy(f, to);
            }
        }
        Path log = dir.resolve("mvn.log");
        Process mvn = new ProcessBuilder("mvn", "-B", "-o", "-q", "test", "-Dsteer4j.version=" + version,
                "-Dmaven.repo.local=" + repo)
                .directory(project.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        boolean done = mvn.waitFor(300, TimeUnit.SECONDS);
        if (!done) mvn.destroyForcibly().waitFor();
        String output = Files.readString(log, StandardCharsets.UTF_8);
        assertTrue(done, "the consumer's build finished in 5 minutes:\n" + output);
        assertEquals(0, mvn.exitValue(), output);
        assertTrue(output.contains("plus: ") && output.contains("minus: "), output);
    }

    private static String projectVersion() throws IOException {
        List<String> lines = Files.readAllLines(Path.of("pom.xml"));
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).trim().equals("<artifactId>steer4j</artifactId>")) {
                return lines.get(i + 1).trim().replaceAll("</?version>", "");
            }
        }
        throw new IllegalStateException("no steer4j version in pom.xml");
    }
}
