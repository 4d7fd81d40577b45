package dev.steer4j.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
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
}
