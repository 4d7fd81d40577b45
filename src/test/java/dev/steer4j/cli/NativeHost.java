package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * native/'s steer4j-host, built once per test JVM with CMake against the libtorch that find_package(Torch)
 * finds (Debian's libtorch-dev here: .ci/run installs it and cmake).
 */
final class NativeHost {
    static final Path BUILD = Path.of("target", "native");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Path binary;

    record Result(int code, String out, String err) {
        JsonNode json() {
            assertEquals(0, code, () -> "steer4j-host exit code; stderr: " + err);
            try {
                return JSON.readTree(out);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private NativeHost() {}

    static synchronized Path binary() {
        if (binary == null) {
            run(List.of("cmake", "-S", "native", "-B", BUILD.toString(), "-DCMAKE_BUILD_TYPE=Release"), 300);
            run(List.of("cmake", "--build", BUILD.toString(), "-j", "2"), 900);
            binary = BUILD.resolve("steer4j-host");
            assertTrue(Files.isExecutable(binary), "built " + binary);
        }
        return binary;
    }

    static Result host(String... args) {
        return hostWith(java.util.Map.of(), args);
    }

    /** The host with extra environment variables. */
    static Result hostWith(java.util.Map<String, String> env, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(binary().toString());
        cmd.addAll(List.of(args));
        return run(cmd, 300, env);
    }

    static Result run(List<String> cmd, int timeoutSeconds) {
        return run(cmd, timeoutSeconds, java.util.Map.of());
    }

    static Result run(List<String> cmd, int timeoutSeconds, java.util.Map<String, String> env) {
        try {
            Path out = Files.createTempFile("steer4j-host", ".out");
            Path err = Files.createTempFile("steer4j-host", ".err");
            try {
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
                pb.environment().putAll(env);
                Process p = pb.start();
                if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new AssertionError(String.join(" ", cmd) + " ran past " + timeoutSeconds + " s");
                }
                Result r = new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                        Files.readString(err, StandardCharsets.UTF_8));
                if (cmd.get(0).equals("cmake")) {
                    assertEquals(0, r.code(), () -> String.join(" ", cmd) + " failed (needs cmake, g++ and"
                            + " libtorch-dev):\n" + r.out() + r.err());
                }
                return r;
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
