package dev.steer4j.safetensors;

/** A safetensors file is malformed, or a read asked for something it cannot give. */
public class SafetensorsException extends dev.steer4j.InvalidInputException {
    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
