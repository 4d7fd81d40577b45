package dev.steer4j.server;

import dev.steer4j.InvalidInputException;
import dev.steer4j.request.Positions;
import dev.steer4j.request.Steer;
import dev.steer4j.steering.SteerSpec;
import dev.steer4j.steering.VectorFiles;
import dev.steer4j.steering.io.VectorSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The vector files of {@code --vectors DIR}, by name: a client names {@code love} or {@code love.safetensors},
 * never a path, so nothing outside the folder can be read through the server. A name is one plain file name
 * (no separators, not starting with a dot), and the file it names must lie in the folder once links are
 * followed. Files are read by {@link VectorFiles} (what {@code --steer} reads) and kept until they change.
 */
final class VectorLibrary {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,199}");
    private static final List<String> EXTENSIONS = List.of(".safetensors", ".gguf");

    private final Path dir; // null: no --vectors, only inline vectors
    private final Map<Path, Cached> cache = new ConcurrentHashMap<>();

    private record Cached(long modified, long size, VectorSet set) {}

    /** One vector file as {@code GET /v1/vectors} lists it. */
    record Entry(String name, String file, List<String> modules, int width) {}

    VectorLibrary(Path dir) {
        this.dir = dir == null ? null : dir.toAbsolutePath().normalize();
    }

    /** The steering entries of vector file {@code name} (every module it has, or {@code module}). */
    List<Steer> entries(String name, double coefficient, Positions where, String module) {
        Path file = resolve(name);
        VectorSet set = read(file);
        List<Steer> out = new ArrayList<>();
        try {
            for (String m : SteerSpec.modules(set, Path.of(file.getFileName().toString()), where, module)) {
                out.add(new Steer(m, set.data(m), coefficient, where));
            }
        } catch (InvalidInputException e) {
            throw ApiError.invalid("steer", e.getMessage());
        }
        return out;
    }

    /** Every vector file of the folder, by name. */
    List<Entry> list() {
        if (dir == null) return List.of();
        List<Entry> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                String file = f.getFileName().toString();
                String stem = stem(file);
                if (stem == null || !Files.isRegularFile(f) || !NAME.matcher(file).matches()) continue;
                try {
                    VectorSet set = read(inside(f, file));
                    out.add(new Entry(stem, file, set.names(), set.names().isEmpty() ? 0 : set.width()));
                } catch (ApiError | InvalidInputException e) {
                    // not a vector file after all: listed by nobody
                }
            }
        } catch (IOException e) {
            throw new ApiError(500, "server_error", null, "cannot list the vector folder: " + e.getMessage());
        }
        return out;
    }

    private Path resolve(String name) {
        if (dir == null) {
            throw ApiError.invalid("steer", "this server has no vector folder (--vectors): send inline vectors"
                    + " {\"module\", \"values\", \"coef\"} instead of \"vector\": \"" + name + "\"");
        }
        if (!NAME.matcher(name).matches()) {
            throw ApiError.invalid("steer", "vector name \"" + name + "\" is not a file name in the server's vector folder"
                    + " (names are listed by GET /v1/vectors; paths are not accepted)");
        }
        List<String> candidates = stem(name) != null ? List.of(name) : EXTENSIONS.stream().map(e -> name + e).toList();
        for (String c : candidates) {
            Path f = dir.resolve(c);
            if (Files.isRegularFile(f)) return inside(f, name);
        }
        throw ApiError.invalid("steer", "no vector named \"" + name + "\" (GET /v1/vectors lists them)");
    }

    /** {@code f}, once its real path is known to lie in the folder (a link out of it is refused). */
    private Path inside(Path f, String name) {
        try {
            Path real = f.toRealPath();
            if (!real.startsWith(dir.toRealPath())) {
                throw ApiError.invalid("steer", "vector \"" + name + "\" leaves the server's vector folder");
            }
            return real;
        } catch (IOException e) {
            throw ApiError.invalid("steer", "cannot read vector \"" + name + "\"");
        }
    }

    private VectorSet read(Path file) {
        try {
            long modified = Files.getLastModifiedTime(file).toMillis();
            long size = Files.size(file);
            Cached c = cache.get(file);
            if (c == null || c.modified != modified || c.size != size) {
                c = new Cached(modified, size, VectorFiles.read(file));
                cache.put(file, c);
            }
            return c.set;
        } catch (IOException | InvalidInputException e) {
            // the message names the server's path only by its file name
            throw ApiError.invalid("steer", "vector file " + file.getFileName() + " cannot be read: "
                    + String.valueOf(e.getMessage()).replace(file.toString(), file.getFileName().toString()));
        }
    }

    private static String stem(String file) {
        for (String e : EXTENSIONS) {
            if (file.endsWith(e) && file.length() > e.length()) return file.substring(0, file.length() - e.length());
        }
        return null;
    }
}
