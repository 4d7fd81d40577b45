package dev.steer4j.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @Test
    void overwrittenFileKeepsItsModeAndNewFileGetsTheDefaultOne(@TempDir Path dir) throws IOException {
        Path old = dir.resolve("old.txt");
        Files.writeString(old, "old");
        Files.setPosixFilePermissions(old, PosixFilePermissions.fromString("rw-r-----"));
        AtomicFiles.write(old, tmp -> Files.writeString(tmp, "new"));
        assertEquals("new", Files.readString(old));
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(old)));

        Path plain = Files.createFile(dir.resolve("plain.txt")); // what any program gets under this umask
        Path fresh = dir.resolve("fresh.txt");
        AtomicFiles.write(fresh, tmp -> Files.writeString(tmp, "x"));
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(fresh));
    }

    @Test
    void aFailedWriteLeavesTheOldFileAndNoTemporary(@TempDir Path dir) throws IOException {
        Path target = dir.resolve("out.bin");
        Files.writeString(target, "kept", StandardCharsets.UTF_8);
        assertThrows(IOException.class, () -> AtomicFiles.write(target, tmp -> {
            Files.writeString(tmp, "half");
            throw new IOException("No space left on device");
        }));
        assertEquals("kept", Files.readString(target));
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "only the target is left");
        }
    }

    @Test
    void aFolderIsReplacedWholeAndOnlyOnceItIsComplete(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("out");
        AtomicFiles.writeFolder(out, staging -> { // new
            Files.writeString(staging.resolve("a"), "1");
            Files.writeString(staging.resolve("old-only"), "1");
        });
        assertEquals(Set.of("a", "old-only"), names(out));

        AtomicFiles.writeFolder(out, staging -> { // an earlier run's: replaced whole, its other files gone
            Files.writeString(staging.resolve("a"), "2");
            Files.writeString(staging.resolve("b"), "2");
        });
        assertEquals(Set.of("a", "b"), names(out));
        assertEquals("2", Files.readString(out.resolve("a")));

        assertThrows(IOException.class, () -> AtomicFiles.writeFolder(out, staging -> { // fails half way
            Files.writeString(staging.resolve("a"), "3");
            throw new IOException("No space left on device");
        }));
        assertEquals(Set.of("a", "b"), names(out));
        assertEquals("2", Files.readString(out.resolve("a")));
        assertEquals(Set.of("out"), names(dir), "no staging folder left");

        Path empty = Files.createDirectory(dir.resolve("empty"));
        AtomicFiles.writeFolder(empty, staging -> Files.writeString(staging.resolve("c"), "3"));
        assertEquals(Set.of("c"), names(empty));
        assertEquals(Set.of("out", "empty"), names(dir));
    }

    @Test
    void aFolderBehindALinkIsWrittenWhereTheLinkPoints(@TempDir Path dir) throws IOException {
        Path real = Files.createDirectory(dir.resolve("real"));
        Files.writeString(real.resolve("old"), "x");
        Path link = Files.createSymbolicLink(dir.resolve("link"), real);
        AtomicFiles.writeFolder(link, staging -> Files.writeString(staging.resolve("new"), "y"));
        assertTrue(Files.isSymbolicLink(link));
        assertEquals(Set.of("new"), names(real));
        assertEquals(Set.of("real", "link"), names(dir));
    }

    @Test
    void whatAKilledWriterLeftIsClearedByTheNextWriteOfTheSameTarget(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out");
        Path file = dir.resolve("file.bin");
        Files.writeString(file, "kept");
        killedHalfWay("folder", out);
        killedHalfWay("file", file);
        Set<String> left = names(dir); // the kept file, a staging folder and a temporary file
        assertEquals(3, left.size(), left.toString());
        assertTrue(left.stream().anyMatch(n -> n.startsWith(".out.staging.")), left.toString());
        assertTrue(left.stream().anyMatch(n -> n.startsWith(".file.bin.")), left.toString());
        Path running = Files.createDirectory(dir.resolve(".out.staging." + ProcessHandle.current().pid() + ".x.tmp"));
        Path others = Files.createFile(dir.resolve(".other." + deadPid() + ".x.tmp"));

        AtomicFiles.writeFolder(out, staging -> Files.writeString(staging.resolve("a"), "1"));
        AtomicFiles.write(file, tmp -> Files.writeString(tmp, "new"));
        assertEquals(Set.of("out", "file.bin", running.getFileName().toString(), others.getFileName().toString()),
                names(dir), "a running writer's staging folder and another target's temporary file stay");
        assertEquals(Set.of("a"), names(out));
        assertEquals("new", Files.readString(file));
    }

    @Test
    void aFolderMovedAsideByAWriterKilledBetweenItsMovesIsPutBack(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out");
        AtomicFiles.writeFolder(out, staging -> Files.writeString(staging.resolve("a"), "earlier"));
        // the state a kill -9 between "move the earlier folder aside" and "move the new one in" leaves
        Files.move(out, dir.resolve(".out.replaced." + deadPid() + ".x.tmp"));

        assertThrows(IOException.class, () -> AtomicFiles.writeFolder(out, staging -> {
            throw new IOException("No space left on device");
        }));
        assertEquals(Set.of("out"), names(dir));
        assertEquals("earlier", Files.readString(out.resolve("a")));
    }

    /** Runs {@link KilledWriter} on {@code target} in a JVM of its own and kills it (SIGKILL) half way. */
    private static void killedHalfWay(String what, Path target) throws Exception {
        Path jvm = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(jvm.toString(), "-cp", System.getProperty("java.class.path"),
                KilledWriter.class.getName(), what, target.toString()).redirectErrorStream(true).start();
        try {
            String line = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)).readLine();
            assertEquals("ready", line, "the writer got half way");
        } finally {
            p.destroyForcibly();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the writer was killed");
        }
    }

    /** The id of a process that has ended. */
    private static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }

    private static Set<String> names(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }
}
