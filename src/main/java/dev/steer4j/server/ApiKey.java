package dev.steer4j.server;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The server's key, checked against {@code Authorization: Bearer KEY}. Both sides are hashed first and the digests
 * compared with {@link MessageDigest#isEqual} (constant time), so neither the key's bytes nor its length can be
 * learned from how long a refusal takes.
 */
final class ApiKey {
    private final byte[] digest;

    ApiKey(String key) {
        if (key == null || key.isBlank()) throw new IllegalArgumentException("an API key must not be empty");
        this.digest = sha256(key);
    }

    /** Whether an {@code Authorization} header (null when absent) carries the key. */
    boolean admits(String authorization) {
        String given = authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
                ? authorization.substring(7).strip() : "";
        // hashed even when absent: a missing header takes as long as a wrong key
        return MessageDigest.isEqual(digest, sha256(given)) && !given.isEmpty();
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java has SHA-256", e);
        }
    }
}
