package dev.steer4j.io;

import dev.steer4j.InvalidInputException;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;

/** I/O failures in words that say what went wrong, not only where (the JDK's messages are often just a path). */
public final class IoErrors {
    private IoErrors() {}

    /** Why {@code e} happened, e.g. "permission denied", "no space left on device", "not valid UTF-8 text". */
    public static String reason(IOException e) {
        if (e instanceof CharacterCodingException) return "not valid UTF-8 text"; // its message is "Input length = 1"
        // these come with no reason: their message is only the path
        if (e instanceof AccessDeniedException) return "permission denied";
        if (e instanceof NoSuchFileException) return "no such file or directory";
        if (e instanceof FileAlreadyExistsException) return "already exists";
        if (e instanceof NotDirectoryException) return "not a directory";
        if (e instanceof DirectoryNotEmptyException) return "directory not empty";
        String why = e instanceof FileSystemException fse ? fse.getReason() : e.getMessage();
        if (why == null || why.isBlank()) return e.getClass().getSimpleName();
        why = why.strip().lines().findFirst().orElse("");
        return Character.toLowerCase(why.charAt(0)) + why.substring(1); // "No space left on device" -> "no space..."
    }

    /** Throws an InvalidInputException unless {@code file} is a regular file: "{what} not found: F" or "{what} F is a directory". */
    public static void requireFile(Path file, String what) {
        if (Files.isDirectory(file)) throw new InvalidInputException(what + " " + file + " is a directory, not a file");
        if (!Files.isRegularFile(file)) throw new InvalidInputException(what + " not found: " + file);
    }
}
