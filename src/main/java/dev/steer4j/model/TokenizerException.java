package dev.steer4j.model;

import dev.steer4j.InvalidInputException;

/** The tokenizer the caller needs is missing (no vocab.json or merges.txt) or cannot be read. */
public final class TokenizerException extends InvalidInputException {
    public TokenizerException(String message) {
        super(message);
    }
}
