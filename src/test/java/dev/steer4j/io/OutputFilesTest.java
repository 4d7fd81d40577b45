package dev.steer4j.io;

import dev.steer4j.InvalidInputException;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.steer4j.io.OutputFiles.Named;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one file rule of every output: never an input (by identity), never an existing file of another kind. */
class OutputFilesTest {
    /** A kind that is any file starting with "KIND". */
    private static final OutputFiles.Kind KIND = new OutputFiles.Kind() {
        @Override public String description() { return "a test file"; }

        @Override public boolean matches(Path file) throws IOException {
            return new String(Files.readAllBytes(file), StandardCharsets.UTF_8).startsWith("KIND");
        }
    };

    @Test
    void theSameFileIsFoundThroughDotsSymbolicAndHardLinks(@TempDir Path dir) throws IOException {
        Path in = Files.writeString(dir.resolve("in.txt"), "input");
        Path link = Files.createSymbolicLink(dir.resolve("link.txt"), in);
        Path hard = Files.createLink(dir.resolve("hard.txt"), in);
        Files.createDirectory(dir.resolve("sub"));
        for (Path same : List.of(Path.of(dir + "/./in.txt"), dir.resolve("sub/../in.txt"), dir.resolve("nosuch/../in.txt"),
                link, hard)) {
            assertTrue(OutputFiles.sameFile(in, same), same.toString());
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> OutputFiles.check(new Named("--out", same), KIND, List.of(new Named("--model", in))));
            assertEquals("--out " + same + " is the same file as --model " + in + ": writing it would destroy what is read;"
                    + " give a new path", e.getMessage());
        }
        assertFalse(OutputFiles.sameFile(in, Files.writeString(dir.resolve("copy.txt"), "input")), "equal bytes are another file");
        assertFalse(OutputFiles.sameFile(in, dir.resolve("new.txt")));
        assertEquals("input", Files.readString(in));
    }

    @Test
    void anExistingOutputMustBeOfTheKindOrEmpty(@TempDir Path dir) throws IOException {
        Path notes = Files.writeString(dir.resolve("notes.txt"), "my notes\n");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> OutputFiles.requireKind(new Named("--out", notes), KIND));
        assertEquals("--out " + notes + " exists and is not a test file, so it is not replaced; give a new path, or remove it"
                + " first", e.getMessage());
        assertArrayEquals("my notes\n".getBytes(StandardCharsets.UTF_8), Files.readAllBytes(notes));

        assertThrows(InvalidInputException.class, () -> OutputFiles.requireKind(new Named("--out", dir), KIND), "a folder");
        Path device = Path.of("/dev/null");
        if (Files.exists(device)) {
            InvalidInputException d = assertThrows(InvalidInputException.class,
                    () -> OutputFiles.requireKind(new Named("--profile", device), KIND));
            assertTrue(d.getMessage().contains("not a regular file"), d.getMessage());
        }
        assertDoesNotThrow(() -> OutputFiles.requireKind(new Named("--out", Files.writeString(dir.resolve("k"), "KIND 1")), KIND));
        assertDoesNotThrow(() -> OutputFiles.requireKind(new Named("--out", Files.createFile(dir.resolve("empty"))), KIND));
        assertDoesNotThrow(() -> OutputFiles.requireKind(new Named("--out", dir.resolve("new")), KIND));
        Path dangling = Files.createSymbolicLink(dir.resolve("dangling"), dir.resolve("gone"));
        assertDoesNotThrow(() -> OutputFiles.requireKind(new Named("--out", dangling), KIND));
    }
}
