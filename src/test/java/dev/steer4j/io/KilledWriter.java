package dev.steer4j.io;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A writer to be killed with {@code kill -9} by {@link AtomicFilesTest}: it writes a file or a folder through
 * {@link AtomicFiles}, and half way prints "ready" and waits to be killed.
 */
public final class KilledWriter {
    public static void main(String[] args) throws Exception {
        Path target = Path.of(args[1]);
        if (args[0].equals("folder")) {
            AtomicFiles.writeFolder(target, staging -> {
                Files.writeString(staging.resolve("half"), "written before the kill");
                waitForTheKill();
            });
        } else {
            AtomicFiles.write(target, tmp -> {
                Files.writeString(tmp, "written before the kill");
                waitForTheKill();
            });
        }
    }

    private static void waitForTheKill() {
        System.out.println("ready");
        System.out.flush();
        try {
            Thread.sleep(60_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        throw new IllegalStateException("not killed within a minute");
    }
}
